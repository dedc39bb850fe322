"""Uniformity against the Wang & Isola reference formula and a direct sum over pairs."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from req_plugins.functional import uniformity
from req_plugins.functional.uniformity import pairwise_log_mean_exp


def wang_isola_reference(x: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """The authors' code (github.com/SsnL/align_uniform), on L2-normalised embeddings."""
    x = F.normalize(x, dim=1)
    return torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log()


def direct_reference(x: torch.Tensor, t: float = 2.0) -> float:
    """log mean over i < j of exp(-t ||x̂_i - x̂_j||²), one pair at a time."""
    rows = [[v / math.sqrt(sum(w * w for w in r)) for v in r] for r in x.double().tolist()]
    terms = [
        math.exp(-t * sum((a - b) ** 2 for a, b in zip(u, v, strict=True)))
        for u, v in itertools.combinations(rows, 2)
    ]
    return math.log(sum(terms) / len(terms))


@pytest.mark.parametrize(
    ("n", "d", "t", "seed"), [(40, 3, 2.0, 0), (25, 16, 2.0, 1), (30, 8, 0.5, 2)]
)
def test_matches_the_direct_sum_over_pairs(n, d, t, seed):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) * 3 + 1
    value = uniformity(x, t=t)
    assert value.dtype == torch.float64 and value.ndim == 0
    assert float(value) == pytest.approx(direct_reference(x, t), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_the_authors_formula(dtype):
    x = torch.randn(500, 64, generator=torch.Generator().manual_seed(3), dtype=dtype)
    expected = wang_isola_reference(x.double())
    tolerance = 1e-12 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(uniformity(x), expected, rtol=tolerance, atol=tolerance)


def test_row_chunks_and_extra_dims_do_not_change_the_value():
    x = torch.randn(101, 2, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    unit = F.normalize(x.reshape(101, -1), dim=1)
    expected = uniformity(x)
    for chunk in (1, 7, 100, 101, 4096):
        torch.testing.assert_close(pairwise_log_mean_exp(unit, 2.0, chunk=chunk), expected)


def test_known_configurations():
    # A collapse onto one direction: every distance is 0, uniformity 0 (its maximum).
    collapsed = torch.tensor([[1.0, 2.0]]).repeat(5, 1) * torch.arange(1, 6.0)[:, None]
    assert float(uniformity(collapsed)) == pytest.approx(0.0, abs=1e-15)
    # Two antipodal points: distance² 4, the minimum −4t.
    assert float(uniformity(torch.tensor([[0.0, 3.0], [0.0, -1.0]]))) == pytest.approx(-8.0)
    # Far below float64's exp range for large t, still finite (log-sum-exp).
    assert float(uniformity(torch.tensor([[0.0, 3.0], [0.0, -1.0]]), t=500.0)) == -2000.0
    # Spread-out embeddings are more uniform (lower) than clustered ones.
    g = torch.Generator().manual_seed(5)
    spread = torch.randn(200, 8, generator=g)
    clustered = torch.randn(200, 8, generator=g) * 0.1 + torch.ones(8)
    assert uniformity(spread) < uniformity(clustered)


def test_is_differentiable():
    x = torch.randn(20, 5, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(uniformity, (x,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": torch.randn(1, 4)}, "at least 2 samples"),
        ({"features": torch.randn(4)}, r"shape \(N, D\)"),
        ({"features": torch.tensor([[0.0, float("inf")], [1.0, 0.0]])}, "non-finite"),
        ({"features": torch.randn(4, 3), "t": 0.0}, "`t` must be > 0"),
        ({"features": torch.ones(4, 3, dtype=torch.int64)}, "floating-point"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        uniformity(**kwargs)
