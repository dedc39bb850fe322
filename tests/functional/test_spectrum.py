"""α-ReQ, effective rank and spectrum utilities against references (reptrix, torch SVD)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from req_plugins.functional import (
    AlphaFit,
    alpha_from_eigenvalues,
    alpha_req,
    cumulative_explained_variance,
    effective_rank,
    effective_rank_from_spectrum,
    eigenspectrum,
    eigenvalues_from_moments,
    feature_moments,
    num_eigenvalues_above,
)
from tests.functional.synthetic import power_law_features


def reptrix(module: str):
    """The reference implementation (``reptrix.alpha``, ``.rankme``, ``.utils``)."""
    return pytest.importorskip(f"reptrix.{module}", reason="reptrix is the reference")


def rankme_reference(features: torch.Tensor, eps: float = 1e-7) -> float:
    """The RankMe formula, written out on ``torch.linalg.svdvals`` (float64)."""
    s = torch.linalg.svdvals(features.double())
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


# ---------------------------------------------------------------- α against reptrix


@pytest.mark.parametrize(
    ("n", "d"), [(2000, 512), pytest.param(3000, 2048, marks=pytest.mark.slow)]
)
def test_alpha_matches_reptrix_get_alpha(n, d):
    features = power_law_features(n, d, alpha=1.2, seed=d)  # float32, non-zero mean
    ref_alpha, ref_ypred, _, _ = reptrix("alpha").get_alpha(features)
    fit = alpha_req(features)
    assert isinstance(fit, AlphaFit)
    assert fit.alpha.dtype == torch.float64
    assert abs(float(fit.alpha) - ref_alpha) < 1e-4
    # R² is scikit-learn's r2_score of reptrix's fitted line on the fitted points.
    from sklearn.metrics import r2_score

    spectrum = eigenspectrum(features).numpy()  # = reptrix's explained-variance ratios
    ref_r2 = r2_score(np.log(spectrum[10:100]), np.log(ref_ypred[10:100]))
    assert abs(float(fit.r2) - ref_r2) < 1e-4


def test_alpha_matches_reptrix_on_other_fit_range_and_collapsed_spectrum():
    features = power_law_features(1500, 300, alpha=2.5, seed=3)
    ref_alpha = reptrix("alpha").get_alpha(features, fit_range=np.arange(5, 60))[0]
    assert abs(float(alpha_req(features, fit_range=(5, 60)).alpha) - ref_alpha) < 1e-4


def test_eigenspectrum_matches_reptrix_explained_variance_ratio():
    features = power_law_features(400, 96, alpha=1.0, seed=5)
    ref = reptrix("utils").get_eigenspectrum(features.double().numpy())
    ours = eigenspectrum(features.double())
    assert ours.shape == (96,)
    torch.testing.assert_close(ours, torch.from_numpy(ref), rtol=1e-9, atol=1e-14)


# ---------------------------------------------------------------- effective rank


@pytest.mark.parametrize(("n", "d"), [(300, 64), (40, 128)])
def test_effective_rank_matches_rankme_formula_on_svdvals(n, d):
    features = power_law_features(n, d, alpha=0.8, seed=n)
    ours = float(effective_rank(features))
    ref = rankme_reference(features)
    assert ours == pytest.approx(ref, rel=1e-6)
    assert float(effective_rank(features, normalized=True)) == pytest.approx(
        ref / min(n, d), rel=1e-6
    )


def test_effective_rank_options_follow_their_definitions():
    features = power_law_features(200, 50, alpha=1.0, seed=2).double()
    centred = features - features.mean(0)
    s_raw, s_centred = torch.linalg.svdvals(features), torch.linalg.svdvals(centred)
    cases = {
        (False, "singular"): s_raw,
        (True, "singular"): s_centred,
        (False, "eigen"): s_raw**2,
        (True, "eigen"): s_centred**2,
    }
    for (center, spectrum), values in cases.items():
        p = values / values.sum() + 1e-7
        expected = math.exp(-float((p * p.log()).sum()))
        got = float(effective_rank(features, center=center, spectrum=spectrum))
        assert got == pytest.approx(expected, rel=1e-9), (center, spectrum)
    # Centring removes the mean direction, which dominates these features.
    assert float(effective_rank(features, center=True)) > float(effective_rank(features)) + 1


def test_effective_rank_eigen_centred_matches_reptrix_rankme():
    features = power_law_features(500, 128, alpha=1.0, seed=11)
    ours = effective_rank(features.double(), center=True, spectrum="eigen")
    assert float(ours) == pytest.approx(reptrix("rankme").get_rankme(features.double()), rel=1e-9)
    # reptrix runs its PCA in float32 on float32 input; we stay in float64.
    ours32 = effective_rank(features, center=True, spectrum="eigen")
    assert float(ours32) == pytest.approx(reptrix("rankme").get_rankme(features), rel=1e-5)


def test_effective_rank_extremes():
    assert float(effective_rank(torch.eye(6), eps=0.0)) == pytest.approx(6.0, rel=1e-12)
    rank_one = torch.outer(torch.arange(1.0, 9.0), torch.arange(1.0, 5.0))
    assert float(effective_rank(rank_one, eps=0.0)) == pytest.approx(1.0, rel=1e-9)
    # With RankMe's ε every zero singular value adds -ε log ε to the entropy.
    n_zero = 3
    expected = math.exp(-(1 + 1e-7) * math.log(1 + 1e-7) - n_zero * 1e-7 * math.log(1e-7))
    assert float(effective_rank(rank_one)) == pytest.approx(expected, rel=1e-9)


def test_effective_rank_is_differentiable():
    # Rank-deficient on purpose: zero singular values must not give NaN/Inf gradients.
    base = torch.randn(16, 3, dtype=torch.float64) @ torch.randn(3, 8, dtype=torch.float64)
    features = base.clone().requires_grad_(True)
    effective_rank(features, normalized=True).backward()
    assert features.grad is not None
    assert torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0

    full_rank = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: effective_rank(x), (full_rank,))
    assert torch.autograd.gradcheck(
        lambda x: effective_rank(x, center=True, spectrum="eigen"), (full_rank,)
    )


def test_effective_rank_from_spectrum_matches_functional():
    features = power_law_features(100, 30, seed=4).double()
    values = torch.linalg.svdvals(features)
    torch.testing.assert_close(effective_rank_from_spectrum(values), effective_rank(features))


# ---------------------------------------------------------------- planted power law


@pytest.mark.parametrize("a", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("weighted", [True, False])
def test_alpha_recovers_planted_power_law(a, weighted):
    features = power_law_features(4000, 256, alpha=a, seed=1)
    fit = alpha_req(features, weighted=weighted)
    assert abs(float(fit.alpha) - a) < 0.05
    assert float(fit.r2) > 0.99


def test_alpha_from_exact_power_law_and_fit_statistics():
    ranks = torch.arange(1, 301, dtype=torch.float64)
    fit = alpha_from_eigenvalues(7.0 * ranks**-1.3)
    assert float(fit.alpha) == pytest.approx(1.3, abs=1e-12)
    assert float(fit.r2) == pytest.approx(1.0, abs=1e-12)
    # A kinked spectrum: the weighted fit leans towards the low ranks (w = 1/k).
    kinked = torch.where(ranks <= 40, ranks**-1.0, 40.0 * ranks**-2.0)
    weighted = alpha_from_eigenvalues(kinked)
    plain = alpha_from_eigenvalues(kinked, weighted=False)
    assert float(weighted.alpha) < float(plain.alpha)
    assert 0 < float(plain.r2) < 1
    # R² is the unweighted coefficient of determination of the weighted line.
    x, y = ranks[10:100].log(), kinked[10:100].log()
    w = 1 / ranks[10:100]
    slope = -float(weighted.alpha)
    xm, ym = float((w * x).sum() / w.sum()), float((w * y).sum() / w.sum())
    prediction = ym + slope * (x - xm)
    r2 = 1 - ((y - prediction) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert float(weighted.r2) == pytest.approx(float(r2), rel=1e-12)


def test_alpha_is_scale_invariant_and_uncentred_option_differs():
    features = power_law_features(1000, 128, alpha=1.0, seed=8)
    a = float(alpha_req(features).alpha)
    assert float(alpha_req(features * 1e3).alpha) == pytest.approx(a, abs=1e-6)
    # The uncentred spectrum has the mean as its top direction, which shifts all ranks.
    assert abs(float(alpha_req(features, center=False).alpha) - a) > 1e-3


def test_fit_range_is_clipped_to_existing_positive_eigenvalues():
    # 64-d features: only ranks 11..64 exist.
    features = power_law_features(2000, 64, alpha=1.0, seed=6)
    eigenvalues = eigenspectrum(features, normalize=False)
    assert eigenvalues.shape == (64,)
    clipped = alpha_req(features)
    explicit = alpha_from_eigenvalues(eigenvalues, fit_range=(10, 64))
    torch.testing.assert_close(clipped.alpha, explicit.alpha)
    # N < D, centred: at most N - 1 eigenvalues are non-zero.
    wide = power_law_features(60, 200, alpha=1.0, seed=7)
    wide_eigen = eigenspectrum(wide, normalize=False)
    assert wide_eigen.shape == (60,)
    assert int((wide_eigen > 0).sum()) == 59
    torch.testing.assert_close(
        alpha_req(wide).alpha, alpha_from_eigenvalues(wide_eigen[:59], fit_range=(10, 59)).alpha
    )


def test_fit_range_with_too_few_usable_eigenvalues_raises():
    projector_4d = power_law_features(500, 4, seed=0)
    with pytest.raises(ValueError, match="fit_range"):
        alpha_req(projector_4d)
    with pytest.raises(ValueError, match="fit_range"):
        alpha_req(power_law_features(500, 12, seed=0))  # ranks 11, 12 only
    # Exactly 3 usable points is enough.
    assert math.isfinite(float(alpha_req(power_law_features(500, 13, seed=0)).alpha))
    rank_two = torch.randn(100, 2) @ torch.randn(2, 50)
    with pytest.raises(ValueError, match="fit_range"):
        alpha_req(rank_two, fit_range=(0, 10))


@pytest.mark.parametrize("bad", [(10,), (10, 5), (-1, 5), (1.0, 5), "10:100", (True, 5)])
def test_malformed_fit_range_raises(bad):
    with pytest.raises(ValueError, match="fit_range"):
        alpha_req(torch.randn(50, 20), fit_range=bad)


# ---------------------------------------------------------------- spectra, moments, utilities


def test_eigenspectrum_options():
    features = power_law_features(300, 40, seed=9).double()
    n = features.shape[0]
    centred = features - features.mean(0)
    s_c, s_r = torch.linalg.svdvals(centred), torch.linalg.svdvals(features)
    torch.testing.assert_close(eigenspectrum(features, normalize=False), s_c**2 / (n - 1))
    torch.testing.assert_close(
        eigenspectrum(features, center=False, normalize=False), s_r**2 / n, rtol=1e-9, atol=0
    )
    torch.testing.assert_close(
        eigenspectrum(features, spectrum="singular"), s_c / s_c.sum(), rtol=1e-9, atol=1e-15
    )
    normalized = eigenspectrum(features)
    assert float(normalized.sum()) == pytest.approx(1.0, abs=1e-12)
    assert bool((normalized[:-1] >= normalized[1:]).all())


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize(("n", "d"), [(500, 40), (30, 80)])
def test_eigenvalues_from_moments_match_eigenspectrum(center, n, d):
    features = power_law_features(n, d, seed=n + d)
    moments = feature_moments(features)
    assert moments.second_moment.dtype == torch.float64
    from_moments = eigenvalues_from_moments(moments, center=center)
    direct = eigenspectrum(features, center=center, normalize=False)
    assert from_moments.shape == direct.shape == (min(n, d),)
    # Same values; the rank-deficient tail is exactly 0 on both routes.
    torch.testing.assert_close(from_moments, direct, rtol=1e-8, atol=1e-12 * float(direct[0]))


def test_eigenvalue_utilities():
    eigenvalues = torch.tensor([4.0, 2.0, 1.0, 0.5, 0.3, 0.2])  # sum 8
    assert int(num_eigenvalues_above(eigenvalues, threshold=0.1)) == 3  # 0.5, 0.25, 0.125
    assert int(num_eigenvalues_above(eigenvalues)) == 6  # default 0.01: all
    assert int(num_eigenvalues_above(eigenvalues, threshold=0.5)) == 0
    # Top 30% of 6 eigenvalues = the largest 2 (ceil(1.8)); order of the input is irrelevant.
    assert float(cumulative_explained_variance(eigenvalues.flip(0))) == pytest.approx(6 / 8)
    assert float(cumulative_explained_variance(eigenvalues, fraction=0.5)) == pytest.approx(7 / 8)
    assert float(cumulative_explained_variance(eigenvalues, fraction=1.0)) == pytest.approx(1.0)
    flat = torch.ones(10)
    assert float(cumulative_explained_variance(flat)) == pytest.approx(0.3)


def test_utilities_on_a_real_spectrum():
    spectrum = eigenspectrum(power_law_features(2000, 100, alpha=1.0, seed=12))
    count = int(num_eigenvalues_above(spectrum))
    assert count == int((spectrum > 0.01).sum()) and 0 < count < 100
    top = float(cumulative_explained_variance(spectrum))
    assert top == pytest.approx(float(spectrum[:30].sum()), rel=1e-12)


# ---------------------------------------------------------------- bad input, dtypes, devices


@pytest.mark.parametrize(
    "fn", [eigenspectrum, lambda x: alpha_req(x, fit_range=(0, 5)), effective_rank]
)
def test_bad_features_raise_naming_the_argument(fn):
    good = torch.randn(20, 8)
    for bad in (
        good.clone().index_fill_(0, torch.tensor([3]), float("nan")),
        good.clone().index_fill_(1, torch.tensor([2]), float("inf")),
        torch.randn(1, 8),  # fewer than 2 samples
        torch.randn(8),  # 1-d
        torch.randint(0, 3, (20, 8)),  # not floating point
        good.numpy(),
    ):
        with pytest.raises(ValueError, match="`features`"):
            fn(bad)


def test_bad_options_raise_naming_the_argument():
    features = torch.randn(20, 8)
    with pytest.raises(ValueError, match="`spectrum`"):
        effective_rank(features, spectrum="singular_values")
    with pytest.raises(ValueError, match="`spectrum`"):
        eigenspectrum(features, spectrum="svd")
    with pytest.raises(ValueError, match="`eps`"):
        effective_rank(features, eps=-1e-3)
    with pytest.raises(ValueError, match="`features`"):
        effective_rank(torch.ones(5, 3), center=True)  # constant: zero spectrum
    with pytest.raises(ValueError, match="`eigenvalues`"):
        num_eigenvalues_above(torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="`eigenvalues`"):
        cumulative_explained_variance(torch.ones(2, 2))
    with pytest.raises(ValueError, match="`fraction`"):
        cumulative_explained_variance(torch.ones(3), fraction=0.0)
    with pytest.raises(ValueError, match="`threshold`"):
        num_eigenvalues_above(torch.ones(3), threshold=2.0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_input_is_computed_in_float64(dtype):
    features = power_law_features(800, 128, seed=13).to(dtype)
    as_double = features.double()  # exact: every half value is a float64 value
    fit, fit_ref = alpha_req(features), alpha_req(as_double)
    assert fit.alpha.dtype == torch.float64
    torch.testing.assert_close(fit.alpha, fit_ref.alpha, rtol=1e-12, atol=0)
    torch.testing.assert_close(effective_rank(features), effective_rank(as_double))


def test_extra_dimensions_are_flattened_per_sample():
    features = torch.randn(30, 4, 5)
    torch.testing.assert_close(effective_rank(features), effective_rank(features.reshape(30, 20)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_results_stay_on_the_input_device():
    features = power_law_features(500, 64, seed=14).cuda()
    fit = alpha_req(features, fit_range=(5, 50))
    assert fit.alpha.device == features.device
    cpu_fit = alpha_req(features.cpu(), fit_range=(5, 50))
    assert float(fit.alpha) == pytest.approx(float(cpu_fit.alpha), abs=1e-9)
    assert effective_rank(features).device == features.device
