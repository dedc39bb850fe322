"""LiDAR: the paper's definition against scipy's generalized eigenproblem, the reptrix variant
against ``reptrix.lidar.get_lidar``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from req_plugins.functional import lidar, lidar_from_scatter


def object_views(n: int, k: int, d: int, *, seed: int, noise: float = 0.3, offset: float = 2.0):
    """``(n, k, d)`` float64: objects with a decaying spectrum, a common offset, view noise
    that is anisotropic (so that whitening by Σ_w matters)."""
    g = torch.Generator().manual_seed(seed)
    decay = torch.arange(1, d + 1, dtype=torch.float64) ** -0.5
    objects = torch.randn(n, 1, d, generator=g, dtype=torch.float64) * decay
    view_scales = noise * torch.rand(d, generator=g, dtype=torch.float64) + 0.05
    views = objects + torch.randn(n, k, d, generator=g, dtype=torch.float64) * view_scales
    return views + offset * torch.randn(d, generator=g, dtype=torch.float64)


def reference_lidar(views: np.ndarray, delta: float = 1e-6, eps: float = 1e-7) -> float:
    """The paper's definition, written independently: generalized eigenvalues Σ_b v = λ Σ_w v."""
    n, k, d = views.shape
    means = views.mean(axis=1)
    centred_means = means - means.mean(axis=0)
    between = centred_means.T @ centred_means
    deviations = (views - means[:, None, :]).reshape(n * k, d)
    within = deviations.T @ deviations / n + delta * np.eye(d)
    eigenvalues = np.clip(scipy.linalg.eigh(between, within, eigvals_only=True), 0, None)
    p = eigenvalues / eigenvalues.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


CASES = [(300, 4, 32, 0), (120, 2, 48, 1), (40, 8, 64, 2), (500, 3, 16, 3)]


@pytest.mark.parametrize(("n", "k", "d", "seed"), CASES)
def test_default_is_the_effective_rank_of_the_generalized_eigenvalues(n, k, d, seed):
    views = object_views(n, k, d, seed=seed)
    expected = reference_lidar(views.numpy())
    value = lidar(views)
    assert value.dtype == torch.float64 and value.ndim == 0
    assert float(value) == pytest.approx(expected, rel=1e-9)
    assert 1.0 <= float(value) <= min(n - 1, d) + 1e-3


@pytest.mark.parametrize(("n", "k", "d", "seed"), CASES)
def test_reptrix_variant_equals_get_lidar(n, k, d, seed):
    from reptrix.lidar import get_lidar

    views = object_views(n, k, d, seed=seed)
    expected = get_lidar(views.clone(), n, k)
    assert float(lidar(views, variant="reptrix")) == pytest.approx(expected, abs=1e-4)
    # get_lidar also accepts (n·k, D), as views flattened object by object.
    assert float(lidar(views, variant="reptrix")) == pytest.approx(
        get_lidar(views.reshape(n * k, d).clone(), n, k), abs=1e-4
    )


@pytest.mark.slow
def test_reptrix_variant_reproduces_the_value_in_reptrix_own_test():
    torch.manual_seed(0)
    views = torch.randn(1000, 10, 1024)  # reptrix/test_lidar.py: get_lidar(...) == 348.08795
    # reptrix computed it in float32, we in float64.
    assert float(lidar(views, variant="reptrix")) == pytest.approx(348.08795, abs=1e-3)
    # The paper's definition on the same data: every direction discriminates equally well.
    assert float(lidar(views)) == pytest.approx(588.985, abs=1e-3)


def test_the_two_variants_differ_and_only_the_paper_one_is_invariant_to_linear_maps():
    # LDA eigenvalues are those of Σ_b v = λ Σ_w v: an invertible linear map of the embeddings
    # leaves them unchanged (up to δ); reptrix's PCA of Σ_lidar's rows is not a spectrum of
    # that pencil and changes.
    views = object_views(400, 4, 24, seed=5)
    g = torch.Generator().manual_seed(6)
    rotation, _ = torch.linalg.qr(torch.randn(24, 24, generator=g, dtype=torch.float64))
    mixed = views @ (torch.diag(torch.logspace(-1, 1, 24, dtype=torch.float64)) @ rotation).T
    paper, reptrix = (float(lidar(views, variant=v, delta=1e-12)) for v in ("paper", "reptrix"))
    assert float(lidar(mixed, delta=1e-12)) == pytest.approx(paper, rel=1e-8)
    assert float(lidar(mixed, variant="reptrix", delta=1e-12)) != pytest.approx(reptrix, rel=5e-3)
    assert reptrix < paper - 1.0


def test_list_of_views_tensor_dtype_and_extra_dims_agree():
    views = object_views(64, 3, 12, seed=7)
    expected = lidar(views)
    torch.testing.assert_close(lidar(list(views.unbind(dim=1))), expected, rtol=0, atol=0)
    torch.testing.assert_close(lidar(views.reshape(64, 3, 3, 4)), expected, rtol=0, atol=0)
    assert float(lidar(views.float())) == pytest.approx(float(expected), rel=1e-4)


def test_from_scatter_matches_a_hand_computed_case():
    # Σ_w = I + δI, Σ_b = diag(4, 1): eigenvalues 4/(1+δ), 1/(1+δ); p = (0.8, 0.2).
    value = lidar_from_scatter(torch.diag(torch.tensor([4.0, 1.0])), torch.eye(2), eps=0.0)
    expected = np.exp(-(0.8 * np.log(0.8) + 0.2 * np.log(0.2)))
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_max_eigenvalues_keeps_the_largest():
    views = object_views(200, 4, 32, seed=8)
    full = float(lidar(views, eps=0.0))
    top = float(lidar(views, eps=0.0, max_eigenvalues=5))
    assert 1.0 < top <= 5.0 + 1e-9 and top < full


def test_paper_variant_is_differentiable():
    views = object_views(30, 3, 6, seed=9).requires_grad_(True)
    (grad,) = torch.autograd.grad(lidar(views), views)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    small = object_views(12, 3, 4, seed=10).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: lidar(x, delta=1e-2), (small,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"views": torch.randn(10, 8)}, r"shape \(n_objects, n_augmentations, D\)"),
        ({"views": torch.randn(10, 1, 8)}, "at least 2 augmentations per object"),
        ({"views": torch.randn(1, 3, 8)}, "at least 2 objects"),
        ({"views": [torch.randn(10, 8)]}, "at least 2 views"),
        ({"views": [torch.randn(10, 8), torch.randn(9, 8)]}, r"`views\[1\]` has \(9, 8\)"),
        ({"views": torch.ones(10, 3, 4)}, "between-object scatter is zero"),
        ({"views": torch.full((10, 3, 4), float("nan"))}, "non-finite"),
        ({"views": torch.randn(10, 3, 4), "variant": "pca"}, "`variant` must be one of"),
        ({"views": torch.randn(10, 3, 4), "delta": 0.0}, "`delta` must be > 0"),
        ({"views": torch.randn(10, 3, 4), "max_eigenvalues": 0}, "`max_eigenvalues` must be"),
        ({"views": torch.randint(0, 3, (10, 3, 4))}, "floating-point"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lidar(**kwargs)
