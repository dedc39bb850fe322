"""A real 2-process DDP run (gloo, CPU) gives the single-process values."""

from __future__ import annotations

import pytest
import torch

from req_plugins.metrics import AlphaReQ, EffectiveRank, MatrixMutualInformation
from tests.ddp import run_distributed
from tests.functional.synthetic import power_law_features

N_BATCHES = 8


def make_metrics() -> dict:
    return {
        "alpha": AlphaReQ(return_r2=True),
        "alpha_plain_uncentred": AlphaReQ(weighted=False, center=False, num_features=96),
        "erank": EffectiveRank(),
        "erank_eigen_centred": EffectiveRank(center=True, spectrum="eigen", normalized=True),
        "mi": MatrixMutualInformation(),
        "mi_subsampled": MatrixMutualInformation(max_samples=64, num_features_r=64),
    }


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    features = power_law_features(2400, 96, alpha=1.0, seed=31)
    z = torch.tanh(
        features[:, :40] @ torch.randn(40, 16, generator=torch.Generator().manual_seed(1))
    )
    return list(zip(features.chunk(N_BATCHES), z.chunk(N_BATCHES), strict=True))


def run_metrics(batch_indices) -> dict[str, object]:
    metrics = make_metrics()
    data = batches()
    for i in batch_indices:
        features, z = data[i]
        for name, metric in metrics.items():
            if name.startswith("mi"):
                metric.update(features[:, :64], z)
            else:
                metric.update(features)
    results = {}
    for name, metric in metrics.items():
        value = metric.compute()
        results.update(
            {f"{name}.{k}": v for k, v in value._asdict().items()}
            if hasattr(value, "_asdict")
            else {name: value}
        )
    return results


def ddp_worker(rank: int, world_size: int) -> dict[str, object]:
    # Each process sees every other batch; compute() sums the states over processes.
    return run_metrics(range(rank, N_BATCHES, world_size))


@pytest.mark.distributed
def test_two_process_ddp_equals_single_process():
    single = run_metrics(range(N_BATCHES))
    # Without the sum over processes a rank would only see half the data:
    half = run_metrics(range(0, N_BATCHES, 2))
    assert all(not torch.allclose(half[k], single[k], rtol=1e-6) for k in single)
    per_rank = run_distributed(ddp_worker, 2)
    assert len(per_rank) == 2
    for results in per_rank:
        assert results.keys() == single.keys()
        for name, value in single.items():
            assert results[name].dtype == torch.float64
            torch.testing.assert_close(results[name], value, rtol=1e-10, atol=0, msg=name)
