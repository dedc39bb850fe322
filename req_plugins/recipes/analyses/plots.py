"""Drawing shared by the analyses' plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def draw_paper_vs_ours(ax, rows: Sequence[dict[str, Any]], names: Sequence[str], **ticks) -> None:
    """Side-by-side bars per row: the paper's ``paper`` and our ``ours`` ± ``ours_std``.

    ``names`` label the bars' positions; ``ticks`` go to ``ax.set_xticks``.
    """
    positions = range(len(rows))
    ax.bar([p - 0.2 for p in positions], [r["paper"] for r in rows], 0.4, label="paper")
    ax.bar(
        [p + 0.2 for p in positions],
        [r["ours"] for r in rows],
        0.4,
        yerr=[r["ours_std"] for r in rows],
        label="ours",
        capsize=3,
    )
    ax.set_xticks(list(positions), names, **ticks)
