"""What an analysis returns: tables of cells and their numbers, findings, plots."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAN = float("nan")


@dataclass(frozen=True)
class Stat:
    """Mean ± sample standard deviation over ``n`` finite values (NaNs are not counted)."""

    mean: float
    std: float
    n: int
    total: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not finite:
            return cls(NAN, NAN, 0, len(values))
        std = statistics.stdev(finite) if len(finite) > 1 else 0.0
        return cls(statistics.fmean(finite), std, len(finite), len(values))

    def format(self, digits: int = 1) -> str:
        if self.n == 0:
            return "not reached" if self.total else "—"
        text = f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"
        if self.n < self.total:
            text += f" ({self.n}/{self.total} seeds)"
        return text


@dataclass
class Table:
    """A markdown table plus the raw numbers behind it (for CSV and tests)."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    data: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Analysis:
    """Tables, findings and plots (``{file name: draw(path)}``) of one recipe run."""

    tables: list[Table]
    findings: list[str]
    plots: dict[str, Callable[[Path], None]]
