"""Is a usable solo-learn installed? A clear error, saying how to get it, when it is not.

Standard library only: this runs before solo-learn (and torch) are imported.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re

#: Oldest solo-learn release whose API (omegaconf configs, ``lightning.pytorch``) is supported.
MIN_SOLO_LEARN_VERSION = (1, 0, 6)

_HOW_TO_INSTALL = (
    "solo-learn is not on PyPI in a current version; install it from its repository "
    "(its setup.py needs pkg_resources, hence the setuptools pin):\n"
    '    pip install "setuptools<81"\n'
    "    pip install --no-build-isolation git+https://github.com/vturrisi/solo-learn.git\n"
    "See docs/solo-learn.md in the req_plugins repository."
)


def solo_learn_version() -> tuple[int, ...] | None:
    """Installed solo-learn version, or None when it has no distribution metadata."""
    try:
        version = importlib.metadata.version("solo-learn")
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def require_solo() -> None:
    """Raise ``ImportError`` with install instructions if solo-learn is missing or too old."""
    minimum = ".".join(map(str, MIN_SOLO_LEARN_VERSION))
    try:
        found = importlib.util.find_spec("solo") is not None
    except ImportError:  # e.g. sys.modules["solo"] is None
        found = False
    if not found:
        raise ImportError(
            f"req_plugins.solo needs solo-learn >= {minimum}, which is not installed.\n"
            + _HOW_TO_INSTALL
        )
    version = solo_learn_version()
    if version is not None and version < MIN_SOLO_LEARN_VERSION:
        raise ImportError(
            f"req_plugins.solo needs solo-learn >= {minimum}, found "
            f"{'.'.join(map(str, version))}.\n" + _HOW_TO_INSTALL
        )
