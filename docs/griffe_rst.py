"""Griffe extension: render the reST constructs of req_plugins' docstrings as Markdown.

The docstrings are Google style with a few reST pieces (Sphinx roles, ``.. math::``,
``.. code-block::`` and ``::`` literal blocks). mkdocstrings renders Markdown, so before
parsing, each docstring is rewritten:

* ``:math:`x``` → ``\\(x\\)``; ``.. math:: x`` → a ``$$ … $$`` block (MathJax via
  ``pymdownx.arithmatex``);
* ``:func:`name``` (and ``:class:``, ``:mod:``, ``:meth:``, ``:attr:``, ``:data:``) → a
  link to the API page of the object the name resolves to from where it is written; a
  leading ``~`` shows only the last component, as in Sphinx;
* ``.. code-block:: lang``, ``text::`` + indented block and doctests → fenced code blocks.
"""

from __future__ import annotations

import html
import re
import textwrap

import griffe

_ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|attr|data|obj|exc|math):`([^`]+)`")
_DIRECTIVE = re.compile(r"^(\s*)\.\. (math|code-block|code)::\s*(.*)$")
_LITERAL = re.compile(r"^(\s*)(.*?)::\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _take_block(lines: list[str], start: int, base: int) -> tuple[list[str], int]:
    """The lines after ``start`` indented deeper than ``base`` (blank lines included)."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end], end


def _blocks(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):  # a doctest: up to the next blank line
            pad = line[: _indent(line)]
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            out += ["", f"{pad}```pycon", *lines[i:end], f"{pad}```", ""]
            i = end
            continue
        directive = _DIRECTIVE.match(line)
        literal = None if directive else _LITERAL.match(line)
        if not directive and not (literal and i + 1 < len(lines) and not lines[i + 1].strip()):
            out.append(line)
            i += 1
            continue
        pad = (directive or literal).group(1)
        body, i = _take_block(lines, i + 1, len(pad))
        body = textwrap.dedent("\n".join(body)).strip("\n").splitlines()
        if directive and directive.group(2) == "math":
            math = [directive.group(3)] if directive.group(3) else []
            out += ["", f"{pad}$$", *(pad + m.strip() for m in math + body), f"{pad}$$", ""]
            continue
        if directive:
            fence = directive.group(3) or "text"
        else:
            lead = literal.group(2)
            if lead:
                out.append(f"{pad}{lead}:")
            fence = "text"
        out += ["", f"{pad}```{fence}", *(pad + b if b else b for b in body), f"{pad}```", ""]
    return "\n".join(out)


def _lookup(scope: griffe.Object, dotted: str) -> griffe.Object | None:
    obj = scope
    try:
        for part in dotted.split("."):
            member = obj.members.get(part)
            if member is None:
                return None
            obj = member
        return obj.final_target if obj.is_alias else obj
    except griffe.AliasResolutionError:  # points outside the loaded packages (torch, solo)
        return None


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """The canonical path of ``target`` as Python would see it from ``obj``'s scope."""
    target = target.lstrip(".")
    first, _, rest = target.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        if first == scope.name and rest and scope.is_module:
            found = _lookup(scope, rest)
        else:
            found = _lookup(scope, target)
        if found is not None:
            return found.path
        scope = scope.parent
    root = obj.module
    while root.parent is not None:
        root = root.parent
    if first == root.name:
        found = _lookup(root, rest)
        return found.path if found is not None else None
    return None


def _roles(text: str, obj: griffe.Object) -> str:
    def replace(match: re.Match) -> str:
        role, target = match.groups()
        if role == "math":
            return rf"\({target}\)"
        short = target.startswith("~")
        target = target.lstrip("~").removesuffix("()")
        title = target.rsplit(".", 1)[-1] if short else target
        if role in ("func", "meth"):
            title += "()"
        identifier = _resolve(obj, target)
        if identifier is None:
            return f"`{title}`"
        # optional: an object the API pages do not render (private) stays plain code
        return (
            f'<autoref identifier="{html.escape(identifier)}" optional>'
            f"<code>{html.escape(title)}</code></autoref>"
        )

    return _ROLE.sub(replace, text)


def _objects(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)


class ReSTToMarkdown(griffe.Extension):
    """Rewrite every docstring of a package once it is loaded, before mkdocstrings parses it."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        for obj in _objects(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _roles(_blocks(obj.docstring.value), obj)
