"""Table cells (numbers, paper values, axis labels) and the grouping of run records."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from req_plugins.recipes.analyses.types import NAN
from req_plugins.recipes.runner import RunRecord


def number_cell(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def signed_cell(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:+.{digits}f}"


def paper_cell(row: dict[str, Any] | None, digits: int = 1) -> str:
    """The paper's value (± its std when it gives one), ``—`` where it gives none."""
    if row is None:
        return "—"
    text = number_cell(float(row["value"]), digits)
    if row.get("std") is not None:
        text += f" ± {float(row['std']):.{digits}f}"
    return text


def label_cells(record_labels: dict, record_values: dict, keys: Sequence[str]) -> list[str]:
    """Axis values, with the value actually run when a scale substituted it."""
    cells = []
    for key in keys:
        label, value = record_labels[key], record_values[key]
        cells.append(str(label) if label == value else f"{label} (ran {value})")
    return cells


def group_records(records: list[RunRecord], keys: Sequence[str]) -> list[list[RunRecord]]:
    """Records grouped by their labels on ``keys``, in sweep order."""
    groups: dict[tuple, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(tuple(record.labels[k] for k in keys), []).append(record)
    return list(groups.values())


def short_labels(labels: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def scaled(value: float | None, percent: bool) -> float:
    """``value`` as a float, times 100 when ``percent``; NaN for a missing value."""
    if value is None:
        return NAN
    return 100.0 * float(value) if percent else float(value)
