"""LiDAR and Uniformity beyond the shared contract (tests/metrics/test_contract.py): their
options (reptrix variant, the sample cap) streamed, sharded and reordered, and bad input."""

from __future__ import annotations

import pickle

import pytest
import torch

from req_plugins.functional import lidar, uniformity
from req_plugins.metrics import LiDAR, Uniformity
from req_plugins.metrics.uniformity import sample_keys
from tests.ddp import run_distributed
from tests.functional.test_lidar import object_views


def embeddings(n: int = 400, d: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * torch.linspace(0.2, 2.0, d) + 0.5


def streamed(metric, batch_list):
    for batch in batch_list:
        metric.update(batch)
    return metric.compute()


# ------------------------------------------------------------------------------------ LiDAR


@pytest.mark.parametrize("variant", ["paper", "reptrix"])
def test_lidar_streams_to_the_functional_value(variant):
    views = object_views(320, 4, 16, seed=20)
    expected = lidar(views, variant=variant)
    value = streamed(LiDAR(variant=variant, num_features=16), views.split(70))
    torch.testing.assert_close(value, expected, rtol=1e-9, atol=0)


def test_lidar_takes_lists_of_views_and_other_view_counts_per_update():
    views = object_views(90, 4, 8, seed=21)
    metric = LiDAR()
    metric.update(list(views[:40].unbind(dim=1)))
    metric.update(views[40:90, :2])  # 2 augmentations of the next objects
    # Reference: the definition with per-object within scatter, objects of either k.
    means = torch.cat([views[:40].mean(1), views[40:90, :2].mean(1)])
    deviations = torch.cat(
        [
            (views[:40] - views[:40].mean(1, keepdim=True)).reshape(-1, 8),
            (views[40:90, :2] - views[40:90, :2].mean(1, keepdim=True)).reshape(-1, 8),
        ]
    )
    centred = means - means.mean(0)
    from req_plugins.functional import lidar_from_scatter

    expected = lidar_from_scatter(centred.T @ centred, deviations.T @ deviations / 90)
    torch.testing.assert_close(metric.compute(), expected, rtol=1e-9, atol=0)


def test_lidar_bad_input_and_too_few_objects():
    metric = LiDAR()
    with pytest.raises(ValueError, match="needs at least 2 objects in total"):
        metric.compute()
    metric.update(torch.randn(5, 3, 4))
    with pytest.raises(ValueError, match="`views` has 6 features per view, but this metric"):
        metric.update(torch.randn(5, 3, 6))
    with pytest.raises(ValueError, match="at least 2 augmentations"):
        metric.update(torch.randn(5, 1, 4))
    with pytest.raises(ValueError, match="`variant` must be one of"):
        LiDAR(variant="pca")
    with pytest.raises(ValueError, match="`num_features` must be >= 1"):
        LiDAR(num_features=0)


# ------------------------------------------------------------------------------- Uniformity


def test_uniformity_exact_value_is_bitwise_independent_of_order_and_batching():
    x = embeddings()
    expected = uniformity(x)
    value = streamed(Uniformity(), x.split(64))
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=0)
    permutation = torch.randperm(400, generator=torch.Generator().manual_seed(1))
    assert torch.equal(streamed(Uniformity(), x[permutation].split(33)), value)


def test_capped_uniformity_keeps_the_same_subset_whatever_the_order():
    x = embeddings()
    capped = streamed(Uniformity(max_samples=100), x.split(64))
    permutation = torch.randperm(400, generator=torch.Generator().manual_seed(2))
    reordered = Uniformity(max_samples=100)
    streamed(reordered, x[permutation].split(17))
    assert torch.equal(reordered.compute(), capped)
    assert reordered.embeddings[0].shape == (100, 12)  # memory bounded by the cap
    # The subset is the 100 samples with the smallest keys: the functional on them.
    unit = torch.nn.functional.normalize(x.double(), dim=1)
    kept = x[sample_keys(unit, seed=0).argsort()[:100]]
    torch.testing.assert_close(capped, uniformity(kept), rtol=1e-12, atol=0)
    # A random-like subset: close to the exact value, and another seed picks another one.
    assert float(capped) == pytest.approx(float(uniformity(x)), abs=0.05)
    assert not torch.equal(streamed(Uniformity(max_samples=100, seed=1), x.split(64)), capped)


def test_sample_keys_depend_on_the_row_alone_and_look_uniform():
    unit = torch.nn.functional.normalize(embeddings(4000, 8, seed=3).double(), dim=1)
    keys = sample_keys(unit, seed=0)
    torch.testing.assert_close(sample_keys(unit[:10], seed=0), keys[:10], rtol=0, atol=0)
    assert 0.0 <= float(keys.min()) and float(keys.max()) < 1.0
    histogram = torch.histc(keys, bins=10, min=0.0, max=1.0)
    assert histogram.min() > 320 and histogram.max() < 480  # ~400 per decile
    # Unrelated to the position on the sphere: no correlation with any coordinate.
    for column in unit.T:
        assert abs(float(torch.corrcoef(torch.stack([keys, column]))[0, 1])) < 0.06


def test_pickled_capped_uniformity_continues():
    x = embeddings()
    metric = Uniformity(max_samples=50)
    metric.update(x[:200])
    restored = pickle.loads(pickle.dumps(metric))
    restored.update(x[200:])
    assert torch.equal(restored.compute(), streamed(Uniformity(max_samples=50), x.split(100)))


def test_uniformity_bad_input_and_non_finite_dropped_by_the_cap():
    metric = Uniformity()
    with pytest.raises(ValueError, match="at least 2 samples in total"):
        metric.compute()
    metric.update(torch.randn(4, 3))
    with pytest.raises(ValueError, match="`features` has 5 features per sample"):
        metric.update(torch.randn(4, 5))
    capped = Uniformity(max_samples=2)
    capped.update(torch.randn(50, 3))
    capped.update(torch.tensor([[float("nan"), 0.0, 1.0]]))
    with pytest.raises(ValueError, match="1 NaN or Inf value"):
        capped.compute()
    for kwargs, message in [
        ({"t": -1.0}, "`t` must be > 0"),
        ({"max_samples": 1}, "`max_samples` must be >= 2"),
        ({"seed": -1}, "`seed` must be >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            Uniformity(**kwargs)


# ---------------------------------------------------------------------- DDP of the options


def _ddp_worker(rank: int, world_size: int) -> dict[str, torch.Tensor]:
    views = object_views(320, 4, 16, seed=20)
    x = embeddings()
    reptrix, capped = LiDAR(variant="reptrix"), Uniformity(max_samples=100)
    for batch in views.split(40)[rank::world_size]:
        reptrix.update(batch)
    # Uneven shards: rank 0 gets 3 batches of 64, rank 1 the other 4 (one of 16).
    for batch in x.split(64)[rank::world_size]:
        capped.update(batch)
    return {"lidar_reptrix": reptrix.compute(), "uniformity_capped": capped.compute()}


@pytest.mark.distributed
def test_two_process_ddp_options_equal_one_process():
    views, x = object_views(320, 4, 16, seed=20), embeddings()
    expected = {
        "lidar_reptrix": lidar(views, variant="reptrix"),
        "uniformity_capped": streamed(Uniformity(max_samples=100), x.split(64)),
    }
    for results in run_distributed(_ddp_worker, 2):
        torch.testing.assert_close(results["lidar_reptrix"], expected["lidar_reptrix"],
                                   rtol=1e-9, atol=0)  # fmt: skip
        assert torch.equal(results["uniformity_capped"], expected["uniformity_capped"])
