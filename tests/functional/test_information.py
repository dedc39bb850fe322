"""Matrix Rényi entropy and matrix mutual information against the N×N definitions."""

from __future__ import annotations

import math

import pytest
import torch

from req_plugins.functional import matrix_mutual_information, renyi_entropy


def gram(x: torch.Tensor) -> torch.Tensor:
    """A = X̂X̂ᵀ/N for row-normalised X (Sanchez Giraldo et al. 2015), float64."""
    unit = torch.nn.functional.normalize(x.double(), dim=1)
    return unit @ unit.T / x.shape[0]


def entropy_by_definition(matrix: torch.Tensor) -> float:
    """H₂ = -log Σ λ², from the eigenvalues of the trace-1 matrix."""
    eigenvalues = torch.linalg.eigvalsh(matrix / matrix.trace())
    return -math.log(float((eigenvalues**2).sum()))


def mutual_information_by_definition(r: torch.Tensor, z: torch.Tensor) -> float:
    a, b = gram(r), gram(z)
    c = a * b / (a * b).trace()
    return entropy_by_definition(a) + entropy_by_definition(b) - entropy_by_definition(c)


def sample(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_renyi_entropy_matches_definition_and_bounds():
    for n, d, seed in [(50, 8, 0), (20, 64, 1), (100, 100, 2)]:
        x = sample(n, d, seed) + 0.5
        h = float(renyi_entropy(x))
        assert h == pytest.approx(entropy_by_definition(gram(x)), rel=1e-10)
        assert 0 <= h <= math.log(min(n, d)) + 1e-12
    assert float(renyi_entropy(torch.eye(5))) == pytest.approx(math.log(5), rel=1e-12)
    assert abs(float(renyi_entropy(torch.ones(6, 3)))) < 1e-12
    # Row scale is irrelevant (rows are normalised).
    x = sample(30, 6, 3)
    scaled = x * torch.rand(30, 1, generator=torch.Generator().manual_seed(4)).add(0.1)
    torch.testing.assert_close(renyi_entropy(scaled), renyi_entropy(x))


@pytest.mark.parametrize(("n", "d1", "d2"), [(64, 16, 8), (40, 100, 30), (128, 4, 4)])
def test_mutual_information_matches_definition(n, d1, d2):
    r = sample(n, d1, n) + 0.3
    z = torch.tanh(r[:, :d2] + 0.5 * sample(n, d2, n + 1))
    ours = float(matrix_mutual_information(r, z))
    assert ours == pytest.approx(mutual_information_by_definition(r, z), rel=1e-9, abs=1e-12)


def test_mutual_information_is_bounded_by_the_marginal_entropies():
    cases = []
    for seed in range(4):
        r = sample(96, 12, seed)
        cases += [
            (r, r @ sample(12, 6, seed + 10)),  # linear map
            (r, r),  # identical
            (r, sample(96, 10, seed + 20)),  # independent
            (r, torch.relu(r[:, :3]) + 1e-3),  # low-dimensional function of r
        ]
    for r, z in cases:
        mi = float(matrix_mutual_information(r, z))
        assert mi <= min(float(renyi_entropy(r)), float(renyi_entropy(z))) + 1e-12


def test_linear_map_carries_more_information_than_independent_noise():
    for seed in range(3):
        r = sample(512, 8, seed)
        linear = matrix_mutual_information(r, r @ sample(8, 8, seed + 100))
        independent = matrix_mutual_information(r, sample(512, 8, seed + 200))
        assert float(linear) > float(independent) + 0.2


def test_gradient_flows_through_mutual_information():
    r = sample(32, 10, 0).double().requires_grad_(True)
    z = sample(32, 6, 1).double().requires_grad_(True)
    matrix_mutual_information(r, z).backward()
    for tensor in (r, z):
        assert tensor.grad is not None
        assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0
    small_r = sample(6, 3, 2).double().requires_grad_(True)
    small_z = sample(6, 2, 3).double().requires_grad_(True)
    assert torch.autograd.gradcheck(matrix_mutual_information, (small_r, small_z))
    assert torch.autograd.gradcheck(renyi_entropy, (small_r,))


def test_float32_input_gives_float64_result_with_gradient():
    r = sample(16, 4, 5).requires_grad_(True)
    mi = matrix_mutual_information(r, torch.tanh(r))
    assert mi.dtype == torch.float64
    mi.backward()
    assert r.grad is not None and r.grad.dtype == torch.float32


def test_max_samples_subsamples_only_the_joint_term():
    r, noise = sample(400, 6, 7), sample(400, 6, 8)
    z = r + noise
    exact = matrix_mutual_information(r, z)
    torch.testing.assert_close(matrix_mutual_information(r, z, max_samples=400), exact)
    torch.testing.assert_close(matrix_mutual_information(r, z, max_samples=10_000), exact)
    estimate = matrix_mutual_information(r, z, max_samples=200)
    # By hand: marginals on all rows, joint off-diagonal mean on the first 200 rows' pairs.
    unit_r = torch.nn.functional.normalize(r.double(), dim=1)
    unit_z = torch.nn.functional.normalize(z.double(), dim=1)
    kernel = (unit_r[:200] @ unit_r[:200].T) * (unit_z[:200] @ unit_z[:200].T)
    off_mean = ((kernel**2).sum() - 200) / (200 * 199)
    trace_c2 = (400 + 400 * 399 * off_mean) / 400**2
    expected = renyi_entropy(r) + renyi_entropy(z) + torch.log(trace_c2)
    torch.testing.assert_close(estimate, expected, rtol=1e-12, atol=0)
    assert abs(float(estimate) - float(exact)) < 0.05  # unbiased estimate of the same value


def test_zero_rows_are_allowed_and_drop_out():
    r, z = sample(20, 5, 9), sample(20, 4, 10)
    r_with_zero = torch.cat([r, torch.zeros(1, 5)])
    z_with_zero = torch.cat([z, torch.zeros(1, 4)])
    ours = float(matrix_mutual_information(r_with_zero, z_with_zero))
    assert ours == pytest.approx(mutual_information_by_definition(r, z), rel=1e-9)


def test_bad_input_raises_naming_the_argument():
    r, z = sample(10, 4, 0), sample(10, 3, 1)
    with pytest.raises(ValueError, match="`z`.*as many samples"):
        matrix_mutual_information(r, z[:9])
    with pytest.raises(ValueError, match="`r`"):
        matrix_mutual_information(r.clone().index_fill_(0, torch.tensor([0]), float("nan")), z)
    with pytest.raises(ValueError, match="`z`"):
        matrix_mutual_information(r, z.clone().index_fill_(0, torch.tensor([0]), float("inf")))
    with pytest.raises(ValueError, match="`r`"):
        matrix_mutual_information(r[:1], z[:1])
    with pytest.raises(ValueError, match="`z`"):
        matrix_mutual_information(r, z[:, 0])
    with pytest.raises(ValueError, match="`max_samples`"):
        matrix_mutual_information(r, z, max_samples=1)
    with pytest.raises(ValueError, match="`max_samples`"):
        matrix_mutual_information(r, z, max_samples=2.5)
    with pytest.raises(ValueError, match="`features`"):
        renyi_entropy(torch.randn(1, 3))
    with pytest.raises(ValueError, match="`r`.*all zero"):
        matrix_mutual_information(torch.zeros(10, 4), z)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_input(dtype):
    r, z = sample(64, 8, 11).to(dtype), sample(64, 5, 12).to(dtype)
    torch.testing.assert_close(
        matrix_mutual_information(r, z), matrix_mutual_information(r.double(), z.double())
    )


# ------------------------------------------------------------- the two estimators (issue 11)


def covariance_mutual_information_by_definition(r: torch.Tensor, z: torch.Tensor) -> float:
    """The AdaDim paper's estimator: trace-1 d×d matrices of the unit rows, by eigenvalues."""
    unit_r = torch.nn.functional.normalize(r.double(), dim=1)
    unit_z = torch.nn.functional.normalize(z.double(), dim=1)
    a, b = unit_r.T @ unit_r, unit_z.T @ unit_z
    return entropy_by_definition(a) + entropy_by_definition(b) - entropy_by_definition(a * b)


@pytest.mark.parametrize(("n", "d"), [(64, 16), (20, 40), (300, 4)])
def test_covariance_estimator_matches_definition(n, d):
    r = sample(n, d, n) + 0.3
    z = torch.tanh(r + 0.5 * sample(n, d, n + 1))
    ours = float(matrix_mutual_information(r, z, estimator="covariance"))
    assert ours == pytest.approx(covariance_mutual_information_by_definition(r, z), rel=1e-9)
    # Zero rows add nothing, as in the Gram estimator.
    padded = matrix_mutual_information(
        torch.cat([r, torch.zeros(1, d)]), torch.cat([z, torch.zeros(1, d)]), estimator="covariance"
    )
    assert float(padded) == pytest.approx(ours, rel=1e-12)


def gaussian_pair(mixing: torch.Tensor, noise: float, n: int = 2000, seed: int = 0):
    """R ~ N(0, diag(s²)), Z = R Aᵀ + noise·ε, and the closed-form I(R;Z) in nats."""
    d = mixing.shape[0]
    g = torch.Generator().manual_seed(seed)
    scales = torch.linspace(2.0, 0.5, d, dtype=torch.float64)
    r = torch.randn(n, d, generator=g, dtype=torch.float64) * scales
    z = r @ mixing.T + noise * torch.randn(n, d, generator=g, dtype=torch.float64)
    signal = mixing @ torch.diag(scales**2) @ mixing.T
    exact = 0.5 * torch.logdet(torch.eye(d, dtype=torch.float64) + signal / noise**2)
    return r, z, float(exact)


NOISE_LEVELS = (0.1, 0.3, 0.6, 1.0, 2.0, 4.0)


@pytest.mark.parametrize("mixing", ["random", "diagonal"])
def test_gram_estimate_is_monotone_in_the_gaussian_mutual_information(mixing):
    g = torch.Generator().manual_seed(1)
    a = (
        torch.randn(8, 8, generator=g, dtype=torch.float64) / 8**0.5
        if mixing == "random"
        else torch.diag(torch.linspace(0.5, 1.5, 8, dtype=torch.float64))
    )
    exact, estimates = [], []
    for noise in NOISE_LEVELS:
        r, z, true_mi = gaussian_pair(a, noise)
        exact.append(true_mi)
        estimates.append(float(matrix_mutual_information(r, z)))
    assert exact == sorted(exact, reverse=True), exact  # the levels are ordered
    order = sorted(range(len(exact)), key=exact.__getitem__)
    assert [estimates[i] for i in order] == sorted(estimates), (exact, estimates)
    assert len(set(estimates)) == len(estimates)  # strictly monotone


def test_covariance_estimator_does_not_see_the_pairing_of_r_and_z():
    # Built from each space alone: shuffling Z's rows (destroying all dependence) leaves it
    # unchanged, while the Gram estimate falls to about 0. Hence it cannot be monotone in
    # the true mutual information, and the metric defaults to the Gram estimator.
    a = torch.randn(8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    r, z, _ = gaussian_pair(a / 8**0.5, 0.3)
    shuffled = z[torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(2))]
    covariance = matrix_mutual_information(r, z, estimator="covariance")
    torch.testing.assert_close(
        matrix_mutual_information(r, shuffled, estimator="covariance"), covariance
    )
    assert float(matrix_mutual_information(r, z)) > 0.4
    assert abs(float(matrix_mutual_information(r, shuffled))) < 0.02
    # And it depends on the feature basis of Z; the Gram estimator does not.
    rotation, _ = torch.linalg.qr(sample(8, 8, 3).double())
    rotated = matrix_mutual_information(r, z @ rotation, estimator="covariance")
    assert abs(float(rotated) - float(covariance)) > 0.05
    torch.testing.assert_close(
        matrix_mutual_information(r, z @ rotation), matrix_mutual_information(r, z)
    )


def test_negative_values_are_returned_unclamped():
    # Independent R and Z whose variance sits on different feature indices.
    g = torch.Generator().manual_seed(0)
    r = torch.randn(6, 3, generator=g) * torch.tensor([3.0, 1.0, 0.3])
    z = torch.randn(6, 3, generator=g) * torch.tensor([0.3, 1.0, 3.0])
    gram = float(matrix_mutual_information(r, z))
    covariance = float(matrix_mutual_information(r, z, estimator="covariance"))
    assert gram == pytest.approx(mutual_information_by_definition(r, z), rel=1e-9)
    assert covariance == pytest.approx(covariance_mutual_information_by_definition(r, z), rel=1e-9)
    assert -0.01 < gram < 0 and covariance < -0.1


def test_estimator_options_raise_naming_the_argument():
    r, z = sample(10, 4, 0), sample(10, 3, 1)
    with pytest.raises(ValueError, match="`estimator`"):
        matrix_mutual_information(r, z, estimator="kernel")
    with pytest.raises(ValueError, match="`z` must have as many features as `r`"):
        matrix_mutual_information(r, z, estimator="covariance")
    with pytest.raises(ValueError, match="`max_samples`"):
        matrix_mutual_information(r, r, estimator="covariance", max_samples=4)


@pytest.mark.parametrize("estimator", ["gram", "covariance"])
def test_without_value_checks_it_compiles_with_fullgraph(estimator):
    # What a compiled training step (AdaDim's loss) calls: no host-device sync, no graph break.
    r, z = sample(64, 8, 0), torch.tanh(sample(64, 8, 1))

    def mutual_information(r, z):
        return matrix_mutual_information(r, z, estimator=estimator, validate_args=False)

    torch._dynamo.reset()
    compiled = torch.compile(mutual_information, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(r, z), mutual_information(r, z), rtol=1e-6, atol=1e-6)
    # The value checks are what validate_args=False skips: NaN passes through.
    bad = r.clone()
    bad[0, 0] = float("nan")
    assert torch.isnan(mutual_information(bad, z))
    with pytest.raises(ValueError, match="`r`.*non-finite"):
        matrix_mutual_information(bad, z, estimator=estimator)
