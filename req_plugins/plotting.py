"""Draw and save matplotlib figures without touching the user's backend.

The package's plots draw on a :class:`matplotlib.figure.Figure` made by
:func:`new_figure` (no ``pyplot``, so no ``matplotlib.use``: a notebook keeps its
backend, and no figure stays registered with pyplot) and write it with
:func:`save_figure`. matplotlib is imported on first use (the ``lightly`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from req_plugins.rundir import atomic_open

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(**kwargs) -> Figure:
    """A :class:`matplotlib.figure.Figure` (``kwargs``: its arguments, e.g. ``figsize``)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(figure: Figure, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Lay out ``figure`` and write it to ``path`` atomically; return the path.

    The format follows the suffix (``.png``, ``.pdf``, ``.svg``, ...). The file is
    written to a temporary file renamed over ``path``: a failure while drawing leaves
    the previous file intact.
    """
    path = Path(path)
    figure.tight_layout()
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format=path.suffix.lstrip(".") or None, dpi=dpi)
    return path
