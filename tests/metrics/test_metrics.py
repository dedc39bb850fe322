"""Metric-specific behaviour beyond the shared torchmetrics contract (test_contract.py)."""

from __future__ import annotations

import pytest
import torch
from torchmetrics import MetricCollection

from req_plugins.functional import (
    AlphaFit,
    alpha_req,
    effective_rank,
    matrix_mutual_information,
    renyi_entropy,
)
from req_plugins.metrics import AlphaReQ, EffectiveRank, MatrixMutualInformation
from tests.functional.synthetic import power_law_features


def streamed(metric, *tensors, chunks: int):
    for batch in zip(*(t.chunk(chunks) for t in tensors), strict=True):
        metric.update(*batch)
    return metric.compute()


SPECTRUM_METRICS = [
    (AlphaReQ, {}),
    (AlphaReQ, {"weighted": False, "center": False, "fit_range": (5, 60)}),
    (EffectiveRank, {}),
    (EffectiveRank, {"center": True, "spectrum": "eigen", "normalized": True}),
]


@pytest.mark.parametrize(("cls", "options"), SPECTRUM_METRICS)
def test_streaming_over_ten_chunks_equals_one_shot(cls, options):
    features = power_law_features(3000, 128, alpha=1.1, seed=21)
    one_shot = streamed(cls(**options), features, chunks=1)
    chunked = streamed(cls(**options), features, chunks=10)
    assert chunked.dtype == torch.float64
    torch.testing.assert_close(chunked, one_shot, rtol=1e-8, atol=0)


@pytest.mark.parametrize(("n", "d"), [(3000, 128), (50, 200)])
def test_spectrum_metrics_equal_the_functional_versions(n, d):
    features = power_law_features(n, d, alpha=1.1, seed=n)
    fit_range = (10, 100) if n > d else (5, 40)
    alpha = streamed(AlphaReQ(fit_range=fit_range, return_r2=True), features, chunks=7)
    expected = alpha_req(features, fit_range=fit_range)
    assert isinstance(alpha, AlphaFit)
    torch.testing.assert_close(alpha.alpha, expected.alpha, rtol=1e-8, atol=0)
    torch.testing.assert_close(alpha.r2, expected.r2, rtol=1e-8, atol=0)
    for options in ({}, {"center": True, "spectrum": "eigen", "normalized": True}):
        erank = streamed(EffectiveRank(**options), features, chunks=7)
        torch.testing.assert_close(erank, effective_rank(features, **options), rtol=1e-8, atol=0)


def test_alpha_metric_matches_reptrix():
    reptrix_alpha = pytest.importorskip("reptrix.alpha", reason="reptrix is the reference")
    features = power_law_features(2000, 512, alpha=1.2, seed=512)
    ours = streamed(AlphaReQ(), features, chunks=8)
    assert abs(float(ours) - reptrix_alpha.get_alpha(features)[0]) < 1e-4


def clustered_pair(n_per_class: int = 160, classes: int = 8, seed: int = 3):
    """R with class structure and Z = a noisy projection of it, rows sorted by class."""
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(classes, 16, generator=g)
    r = means.repeat_interleave(n_per_class, dim=0) + torch.randn(
        classes * n_per_class, 16, generator=g
    )
    z = torch.tanh(r @ torch.randn(16, 16, generator=g)) + 0.3 * torch.randn(r.shape, generator=g)
    return r, z


@pytest.mark.parametrize("estimator", ["gram", "covariance"])
def test_mutual_information_over_class_sorted_batches_equals_the_exact_value(estimator):
    # Issue 11: within-batch pairs of class-sorted batches gave 0.29 / 0.96 / 1.20 where the
    # exact value was 0.039. Whatever the batch size, the metric now gives the exact value.
    r, z = clustered_pair()
    exact = matrix_mutual_information(r, z, estimator=estimator)
    for batch_size in (256, 64, 32):
        metric = MatrixMutualInformation(estimator=estimator)
        value = streamed(metric, r, z, chunks=r.shape[0] // batch_size)
        torch.testing.assert_close(value, exact, rtol=1e-9, atol=0)


def test_gram_subset_is_random_and_does_not_depend_on_the_sample_order():
    r, z = clustered_pair()
    exact = float(matrix_mutual_information(r, z))
    sorted_value = streamed(MatrixMutualInformation(max_samples=300), r, z, chunks=20)
    shuffle = torch.randperm(r.shape[0], generator=torch.Generator().manual_seed(0))
    shuffled = streamed(MatrixMutualInformation(max_samples=300), r[shuffle], z[shuffle], chunks=7)
    torch.testing.assert_close(shuffled, sorted_value, rtol=1e-12, atol=0)
    # A random subset (the first 300 sorted rows would be 2 classes): close to the exact value.
    assert abs(float(sorted_value) - exact) < 0.1 * abs(exact)
    first_rows = float(matrix_mutual_information(r, z, max_samples=300))
    assert abs(first_rows - exact) > 0.5 * abs(exact)
    other_seed = streamed(MatrixMutualInformation(max_samples=300, seed=1), r, z, chunks=20)
    assert float(other_seed) != float(sorted_value)
    # A cap at or above the sample count is the exact value.
    capped = streamed(MatrixMutualInformation(max_samples=r.shape[0]), r, z, chunks=5)
    torch.testing.assert_close(capped, torch.tensor(exact, dtype=torch.float64), rtol=1e-9, atol=0)


def test_mutual_information_metric_stays_within_the_marginal_entropies():
    g = torch.Generator().manual_seed(4)
    r = torch.randn(600, 8, generator=g)
    z = r @ torch.randn(8, 4, generator=g)
    value = streamed(MatrixMutualInformation(max_samples=64), r, z, chunks=6)
    assert 0 < float(value) <= min(float(renyi_entropy(r)), float(renyi_entropy(z)))


def test_forward_returns_the_batch_value_and_accumulates():
    features = power_law_features(2000, 64, seed=5)
    first, second = features[:1000], features[1000:]
    metric = EffectiveRank()
    torch.testing.assert_close(metric(first), effective_rank(first), rtol=1e-8, atol=0)
    torch.testing.assert_close(metric(second), effective_rank(second), rtol=1e-8, atol=0)
    torch.testing.assert_close(metric.compute(), effective_rank(features), rtol=1e-8, atol=0)
    mi = MatrixMutualInformation()
    r, z = features[:200, :16], features[:200, 16:40]
    torch.testing.assert_close(mi(r, z), matrix_mutual_information(r, z))


def test_metric_collection_shares_one_set_of_statistics():
    features = power_law_features(2000, 128, seed=6)
    collection = MetricCollection({"alpha": AlphaReQ(), "erank": EffectiveRank()})
    for batch in features.chunk(4):
        collection.update(batch)
    # torchmetrics detected identical states and updates them once for both metrics.
    assert sorted(map(sorted, collection.compute_groups.values())) == [["alpha", "erank"]]
    values = collection.compute()
    torch.testing.assert_close(values["alpha"], alpha_req(features).alpha, rtol=1e-8, atol=0)
    torch.testing.assert_close(values["erank"], effective_rank(features), rtol=1e-8, atol=0)


def test_memory_does_not_grow_with_the_number_of_samples():
    metric = AlphaReQ(num_features=32)
    mi = MatrixMutualInformation(estimator="covariance", num_features_r=32, num_features_z=32)
    gram = MatrixMutualInformation()

    def state_elements(m):
        states = (getattr(m, name) for name in m._defaults)
        return sum(sum(t.numel() for t in s) if isinstance(s, list) else s.numel() for s in states)

    sizes = (state_elements(metric), state_elements(mi))
    assert sizes == (1 + 32 + 32 * 32, 1 + 2 * 32 * 32)
    for seed in range(20):
        batch = torch.randn(256, 32, generator=torch.Generator().manual_seed(seed))
        metric.update(batch)
        mi.update(batch, batch.flip(1))
        gram.update(batch, batch[:, :8])
    assert (state_elements(metric), state_elements(mi)) == sizes
    assert int(metric.count) == 20 * 256
    # The N×N Gram estimator cannot stream: it keeps its inputs (documented).
    assert state_elements(gram) == 1 + 20 * 256 * (32 + 8)


def test_states_are_float64_sums_and_reset():
    metric = EffectiveRank()
    metric.update(torch.randn(10, 6, dtype=torch.float16))
    assert metric.second_moment.dtype == torch.float64 and metric.second_moment.shape == (6, 6)
    metric.reset()
    assert int(metric.count) == 0 and metric.second_moment.ndim == 0
    metric.update(torch.randn(10, 9))  # a new width after reset is fine
    assert metric.second_moment.shape == (9, 9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_input_accumulates_in_float64(dtype):
    features = power_law_features(1500, 64, seed=7).to(dtype)
    as_double = features.double()
    for make in (lambda: AlphaReQ(fit_range=(5, 50)), EffectiveRank):
        torch.testing.assert_close(
            streamed(make(), features, chunks=5),
            streamed(make(), as_double, chunks=5),
            rtol=1e-12,
            atol=0,
        )
    r, z = features[:, :32], features[:, 32:]
    torch.testing.assert_close(
        streamed(MatrixMutualInformation(), r, z, chunks=5),
        streamed(MatrixMutualInformation(), r.double(), z.double(), chunks=5),
        rtol=1e-12,
        atol=0,
    )


def test_one_sample_batches_are_accepted_by_update():
    features = power_law_features(40, 8, seed=8)
    metric = EffectiveRank()
    for row in features.split(1):
        metric.update(row)
    torch.testing.assert_close(metric.compute(), effective_rank(features), rtol=1e-8, atol=0)


def test_bad_input_raises_naming_the_argument():
    metric = AlphaReQ(num_features=8, validate_args=True)
    for bad in (
        torch.full((4, 8), float("nan")),
        torch.tensor([[float("inf")] * 8] * 3),
        torch.randn(8),
        torch.randn(0, 8),
        torch.ones(4, 8, dtype=torch.int64),
    ):
        with pytest.raises(ValueError, match="`features`"):
            metric.update(bad)
    with pytest.raises(ValueError, match="`features`.*sized for 8"):
        metric.update(torch.randn(4, 9))
    lazy = EffectiveRank()
    lazy.update(torch.randn(4, 5))
    with pytest.raises(ValueError, match="`features`.*sized for 5"):
        lazy.update(torch.randn(4, 6))

    mi = MatrixMutualInformation(validate_args=True)
    with pytest.raises(ValueError, match="`z`.*as many samples"):
        mi.update(torch.randn(5, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="`r`"):
        mi.update(torch.full((5, 3), float("nan")), torch.randn(5, 3))
    mi.update(torch.randn(5, 3), torch.randn(5, 2))
    with pytest.raises(ValueError, match="`z` has 4 features.*earlier updates had 2"):
        mi.update(torch.randn(5, 3), torch.randn(5, 4))
    covariance = MatrixMutualInformation(estimator="covariance")
    with pytest.raises(ValueError, match="`z` must have as many features as `r`"):
        covariance.update(torch.randn(5, 3), torch.randn(5, 2))
    covariance.update(torch.randn(5, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="`r`.*sized for 3"):
        covariance.update(torch.randn(5, 4), torch.randn(5, 4))


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric")
def test_compute_needs_enough_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        AlphaReQ().compute()
    one = EffectiveRank()
    one.update(torch.randn(1, 4))
    with pytest.raises(ValueError, match="at least 2 samples"):
        one.compute()
    mi = MatrixMutualInformation()
    mi.update(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="at least 2 samples"):
        mi.compute()


def test_fit_range_too_small_for_the_features_raises():
    metric = AlphaReQ()
    metric.update(torch.randn(100, 4))  # a 4-d projector
    with pytest.raises(ValueError, match="fit_range"):
        metric.compute()


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: AlphaReQ(fit_range=(100, 10)), "fit_range"),
        (lambda: AlphaReQ(num_features=0), "num_features"),
        (lambda: EffectiveRank(spectrum="svd"), "spectrum"),
        (lambda: EffectiveRank(eps=-1.0), "eps"),
        (lambda: MatrixMutualInformation(max_samples=1), "max_samples"),
        (lambda: MatrixMutualInformation(num_features_z=0), "num_features_z"),
        (lambda: MatrixMutualInformation(estimator="kernel"), "estimator"),
        (lambda: MatrixMutualInformation(estimator="covariance", max_samples=8), "max_samples"),
        (
            lambda: MatrixMutualInformation(
                estimator="covariance", num_features_r=4, num_features_z=3
            ),
            "num_features_r",
        ),
        (lambda: MatrixMutualInformation(seed=-1), "seed"),
        (lambda: EffectiveRank(validate_args=1), "validate_args"),
    ],
)
def test_bad_options_raise_naming_the_argument(make, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        make()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_metrics_run_on_the_input_device():
    features = power_law_features(2000, 128, seed=9)
    for metric in (AlphaReQ(), EffectiveRank()):
        metric = metric.to("cuda")
        value = streamed(metric, features.cuda(), chunks=4)
        assert value.device.type == "cuda"
        assert metric.second_moment.dtype == torch.float64
        cpu_value = streamed(type(metric)(), features, chunks=4)
        assert float(value) == pytest.approx(float(cpu_value), rel=1e-9)
    mi = MatrixMutualInformation().to("cuda")
    value = streamed(mi, features[:, :64].cuda(), features[:, 64:].cuda(), chunks=4)
    cpu_value = streamed(MatrixMutualInformation(), features[:, :64], features[:, 64:], chunks=4)
    assert float(value) == pytest.approx(float(cpu_value), rel=1e-9)
