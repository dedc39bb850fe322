"""Small tensor helpers shared by the losses."""

from __future__ import annotations

from torch import Tensor


def off_diagonal(matrix: Tensor) -> Tensor:
    """The off-diagonal entries of a square matrix, as a strided view (no copy, no mask)."""
    d = matrix.shape[0]
    # in the flattened matrix the diagonal entries are every (d+1)-th element; dropping the
    # first element puts them in the last column of a (d-1, d+1) view
    return matrix.flatten()[1:].view(d - 1, d + 1)[:, :-1]
