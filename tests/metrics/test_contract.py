"""The torchmetrics contract, checked the way torchmetrics' MetricTester checks its own metrics.

Every metric of ``req_plugins.metrics`` is one :class:`MetricCase` in ``CASES``; each test
below runs on every case:

* class vs functional vs an independent reference over several batches, in one process
  (``forward`` per batch too) and in a real 2-process gloo DDP group;
* ``forward`` vs ``update``; ``merge_state``; pickling; ``set_dtype``; the order of the
  batches and samples does not matter;
* half precision inputs; differentiability (``is_differentiable`` is what ``forward``'s value
  does, gradients equal the functional's, ``gradcheck``); ``torch.jit.script``;
* ``update`` without a host-device sync: ``torch.compile(fullgraph=True)`` (eager and, with
  a C compiler, inductor) equals eager to 1e-6, CUDA under ``set_sync_debug_mode("error")``;
  ``validate_args``; ``plot``; the torchmetrics constants.

Adding a metric takes one entry in ``CASES``::

    MetricCase("lidar", lambda: LiDAR(num_augmentations=4), lambda x: lidar(x), lidar_numpy,
               data=lambda: (my_features(),)),

``make``: a fresh metric; ``functional``: its twin on all the data at once; ``reference``: an
independent computation (NumPy, a peer package) on all the data, returning a float;
``data``: the tensors ``update`` takes, for all samples (split along dim 0 into
``NUM_BATCHES`` batches). Options: ``differentiable`` (the expected ``is_differentiable``),
``rtol`` against the reference.
"""

from __future__ import annotations

import pickle
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torchmetrics

from req_plugins.functional import (
    alpha_req,
    effective_rank,
    lidar,
    matrix_mutual_information,
    uniformity,
)
from req_plugins.metrics import (
    AlphaMetric,
    AlphaReQ,
    EffectiveRank,
    LiDAR,
    MatrixMutualInformation,
    Uniformity,
)
from tests.ddp import run_distributed
from tests.functional.synthetic import power_law_features

NUM_BATCHES = 4
TM_1X = int(torchmetrics.__version__.split(".")[0]) >= 1


# ------------------------------------------------------------------ independent references


def alpha_numpy(features, fit_range=(2, 20)) -> float:
    """reptrix's α: weighted (1/k) least squares on log covariance eigenvalues."""
    x = np.asarray(features, dtype=np.float64)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
    rank = np.arange(fit_range[0] + 1, fit_range[1] + 1)
    slope = np.polyfit(np.log(rank), np.log(eigenvalues[fit_range[0] : fit_range[1]]), 1,
                       w=np.sqrt(1.0 / rank))[0]  # fmt: skip
    return -slope


def rankme_numpy(features, eps=1e-7) -> float:
    s = np.linalg.svd(np.asarray(features, dtype=np.float64), compute_uv=False)
    p = s / s.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def _h2(matrix) -> float:
    eigenvalues = np.linalg.eigvalsh(matrix / np.trace(matrix))
    return -np.log((eigenvalues**2).sum())


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def mutual_information_numpy(r, z, estimator="gram") -> float:
    """H₂(A) + H₂(B) − H₂(A∘B) from the eigenvalues of the matrices, by definition."""
    r, z = _unit(r), _unit(z)
    a, b = (r @ r.T, z @ z.T) if estimator == "gram" else (r.T @ r, z.T @ z)
    return _h2(a) + _h2(b) - _h2(a * b)


def lidar_numpy(views, delta=1e-6, eps=1e-7) -> float:
    """Effective rank of the generalized eigenvalues of Σ_b v = λ Σ_w v (Thilak et al.)."""
    import scipy.linalg

    x = np.asarray(views, dtype=np.float64)
    n, k, d = x.shape
    means = x.mean(axis=1)
    between = (means - means.mean(axis=0)).T @ (means - means.mean(axis=0))
    deviations = (x - means[:, None]).reshape(n * k, d)
    within = deviations.T @ deviations / n + delta * np.eye(d)
    eigenvalues = np.clip(scipy.linalg.eigh(between, within, eigvals_only=True), 0, None)
    p = eigenvalues / eigenvalues.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def uniformity_numpy(features, t=2.0) -> float:
    """log mean over i < j of exp(-t ||x̂_i - x̂_j||²) (Wang & Isola)."""
    x = _unit(features)
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1)
    return float(np.log(np.exp(-t * squared[np.triu_indices(len(x), k=1)]).mean()))


# ------------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class MetricCase:
    name: str
    make: Callable[[], torchmetrics.Metric]
    functional: Callable[..., torch.Tensor]
    reference: Callable[..., float]
    data: Callable[[], tuple[torch.Tensor, ...]]
    differentiable: bool = True
    rtol: float = 1e-6
    argument: str | None = None  # name of the (last) argument of `update` in its errors

    def __str__(self) -> str:
        return self.name


def features_data() -> tuple[torch.Tensor]:
    return (power_law_features(NUM_BATCHES * 60, 24, alpha=1.2, seed=11),)


def pair_data() -> tuple[torch.Tensor, torch.Tensor]:
    r = power_law_features(NUM_BATCHES * 60, 12, alpha=0.8, seed=12, offset=0.5)
    mixing = torch.randn(12, 12, generator=torch.Generator().manual_seed(13))
    noise = torch.randn(r.shape, generator=torch.Generator().manual_seed(14))
    return r, torch.tanh(r @ mixing + 0.5 * noise)


def views_data() -> tuple[torch.Tensor]:
    objects = power_law_features(NUM_BATCHES * 60, 6, alpha=1.0, seed=15)
    noise = torch.randn(NUM_BATCHES * 60, 3, 6, generator=torch.Generator().manual_seed(16))
    return (objects[:, None, :] + 0.3 * noise * torch.linspace(0.2, 1.0, 6),)


CASES = [
    MetricCase(
        "alpha",
        lambda: AlphaReQ(fit_range=(2, 20)),
        lambda x: alpha_req(x, fit_range=(2, 20)).alpha,
        alpha_numpy,
        features_data,
    ),
    MetricCase(
        "effective_rank",
        lambda: EffectiveRank(),
        lambda x: effective_rank(x),
        rankme_numpy,
        features_data,
    ),
    MetricCase(
        "mutual_information_covariance",
        lambda: MatrixMutualInformation(estimator="covariance"),
        lambda r, z: matrix_mutual_information(r, z, estimator="covariance"),
        lambda r, z: mutual_information_numpy(r, z, "covariance"),
        pair_data,
    ),
    MetricCase(
        "mutual_information_gram",
        lambda: MatrixMutualInformation(),
        lambda r, z: matrix_mutual_information(r, z),
        mutual_information_numpy,
        pair_data,
        differentiable=False,
    ),
    MetricCase("lidar", LiDAR, lidar, lidar_numpy, views_data, argument="views"),
    MetricCase(
        "uniformity", Uniformity, uniformity, uniformity_numpy, features_data, differentiable=False
    ),
]
CASE_BY_NAME = {case.name: case for case in CASES}


def batches(case: MetricCase) -> list[tuple[torch.Tensor, ...]]:
    tensors = case.data()
    return list(zip(*(t.chunk(NUM_BATCHES) for t in tensors), strict=True))


def streamed(metric, batch_list) -> torch.Tensor:
    for batch in batch_list:
        metric.update(*batch)
    return metric.compute()


def assert_same(actual, expected, rtol=1e-9, msg=None):
    torch.testing.assert_close(
        actual.double(), torch.as_tensor(expected, dtype=torch.float64), rtol=rtol, atol=0, msg=msg
    )


parametrize_cases = pytest.mark.parametrize("case", CASES, ids=str)


# ------------------------------------------------------------------------- value contract


@parametrize_cases
def test_class_equals_functional_and_reference_over_batches(case):
    data = case.data()
    parts = batches(case)
    expected = case.functional(*data)
    assert_same(expected, case.reference(*(t.numpy() for t in data)), rtol=case.rtol)
    metric = case.make()
    for batch in parts:
        batch_value = metric(*batch)  # forward: this batch's value, accumulated globally
        assert_same(batch_value, case.functional(*batch))
    value = metric.compute()
    assert value.dtype == torch.float64 and value.ndim == 0
    assert_same(value, expected)


def _ddp_worker(rank: int, world_size: int, names: list[str]) -> dict[str, torch.Tensor]:
    results = {}
    for name in names:
        case = CASE_BY_NAME[name]
        metric = case.make()
        results[name] = streamed(metric, batches(case)[rank::world_size])
    return results


@pytest.mark.distributed
def test_two_process_ddp_equals_the_functional_on_all_batches():
    names = [case.name for case in CASES]
    per_rank = run_distributed(_ddp_worker, 2, names)
    for case in CASES:
        expected = case.functional(*case.data())
        half = streamed(case.make(), batches(case)[0::2])
        assert not torch.allclose(half, expected, rtol=1e-6), case.name  # the sync matters
        for results in per_rank:
            assert_same(results[case.name], expected, msg=case.name)


@parametrize_cases
def test_value_does_not_depend_on_the_order_of_batches_or_samples(case):
    data = case.data()
    expected = streamed(case.make(), batches(case))
    assert_same(streamed(case.make(), batches(case)[::-1]), expected)
    # Samples sorted by their first feature (like class-sorted held-out data), new batches.
    order = data[0].reshape(data[0].shape[0], -1)[:, 0].argsort()
    sorted_batches = zip(*(t[order].chunk(2 * NUM_BATCHES) for t in data), strict=True)
    assert_same(streamed(case.make(), sorted_batches), expected)


@parametrize_cases
def test_forward_equals_update_then_compute(case):
    first = batches(case)[0]
    via_forward = case.make()(*first)
    metric = case.make()
    metric.update(*first)
    assert_same(via_forward, metric.compute(), rtol=0)


@pytest.mark.skipif(not TM_1X, reason="merge_state arrived in torchmetrics 1.x")
@parametrize_cases
def test_merge_state_equals_one_metric_over_all_batches(case):
    parts = batches(case)
    left, right = case.make(), case.make()
    for batch in parts[:2]:
        left.update(*batch)
    for batch in parts[2:]:
        right.update(*batch)
    left.merge_state(right)
    assert_same(left.compute(), streamed(case.make(), parts))


@parametrize_cases
def test_pickled_metric_continues_where_it_stopped(case):
    parts = batches(case)
    metric = case.make()
    metric.update(*parts[0])
    restored = pickle.loads(pickle.dumps(metric))
    assert_same(streamed(restored, parts[1:]), streamed(case.make(), parts))


@parametrize_cases
def test_set_dtype_float32_keeps_updating(case):
    parts = batches(case)
    metric = case.make()
    metric.update(*parts[0])
    metric.set_dtype(torch.float32)
    assert_same(streamed(metric, parts[1:]), streamed(case.make(), parts), rtol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@parametrize_cases
def test_half_precision_inputs_accumulate_in_float64(case, dtype):
    low = [tuple(t.to(dtype) for t in batch) for batch in batches(case)]
    value = streamed(case.make(), low)
    assert value.dtype == torch.float64
    # Exactly the value of the same (rounded) numbers given in float64.
    assert_same(value, streamed(case.make(), [tuple(t.double() for t in b) for b in low]))
    assert_same(case.functional(*low[0]), case.functional(*(t.double() for t in low[0])))


# ------------------------------------------------------------ differentiability, scripting


@parametrize_cases
def test_is_differentiable_says_what_forward_does(case):
    metric = case.make()
    assert metric.is_differentiable is case.differentiable
    batch = tuple(t.double().requires_grad_(True) for t in batches(case)[0])
    value = metric(*batch)
    assert value.requires_grad is case.differentiable
    assert all(not getattr(metric, s).requires_grad for s in metric._defaults
               if isinstance(getattr(metric, s), torch.Tensor))  # fmt: skip
    if case.differentiable:
        grads = torch.autograd.grad(value, batch)
        expected = torch.autograd.grad(case.functional(*batch), batch)
        for got, want in zip(grads, expected, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-12)
        small = tuple(t[:12].detach().clone().requires_grad_(True) for t in batch)
        assert torch.autograd.gradcheck(case.functional, small)


@parametrize_cases
def test_metric_can_be_scripted(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated
        scripted = torch.jit.script(case.make())
    assert scripted is not None


@parametrize_cases
def test_torchmetrics_constants(case):
    metric = case.make()
    for name in ("is_differentiable", "higher_is_better", "full_state_update"):
        with pytest.raises(RuntimeError):
            setattr(metric, name, None)
    assert metric.full_state_update is False
    assert metric.higher_is_better in (True, False, None)
    streamed(metric, batches(case))
    assert metric.state_dict() == {}  # states are not persistent by default, as torchmetrics


@parametrize_cases
def test_plot(case):
    metric = case.make()
    values = [metric(*batch) for batch in batches(case)]
    if not TM_1X:
        with pytest.raises(RuntimeError, match="torchmetrics >= 1.0"):
            metric.plot()
        return
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = metric.plot()
    assert len(ax.lines) + len(ax.collections) >= 1
    fig, ax = metric.plot(values)
    assert list(ax.lines[0].get_ydata()) == pytest.approx([float(v) for v in values])
    plt.close("all")


# --------------------------------------------------------------------- no host-device sync


def _compile_backends() -> list:
    backends = ["eager"]
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    reason = "inductor needs a C compiler"
    backends.append(pytest.param("inductor", marks=[
        pytest.mark.slow, pytest.mark.skipif(compiler is None, reason=reason)]))  # fmt: skip
    return backends


@pytest.mark.parametrize("backend", _compile_backends())
@parametrize_cases
def test_update_compiles_with_fullgraph_and_equals_eager(case, backend):
    torch._dynamo.reset()
    compiled_metric, eager_metric = case.make(), case.make()

    def update(*batch):
        compiled_metric.update(*batch)

    compiled_update = torch.compile(update, fullgraph=True, backend=backend)
    for batch in batches(case):
        compiled_update(*batch)
        eager_metric.update(*batch)
    torch.testing.assert_close(compiled_metric.compute(), eager_metric.compute(), rtol=1e-6,
                               atol=1e-6)  # fmt: skip


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@parametrize_cases
def test_cuda_update_does_not_synchronise(case):
    parts = [tuple(t.cuda() for t in batch) for batch in batches(case)]
    metric = case.make().to("cuda")
    metric.update(*parts[0])  # the first update may size the states
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for batch in parts[1:]:
            metric.update(*batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert_same(metric.compute().cpu(), streamed(case.make(), batches(case)), rtol=1e-9)


@parametrize_cases
def test_non_finite_input_is_caught(case):
    parts = batches(case)
    bad = tuple(t.clone() for t in parts[1])
    bad[-1][0, 0] = float("nan")
    checked = case.make()
    checked.validate_args = True
    checked.update(*parts[0])
    argument = case.argument or ("features" if len(bad) == 1 else "z")
    with pytest.raises(ValueError, match=f"`{argument}`.*non-finite"):
        checked.update(*bad)
    unchecked = case.make()  # default: no sync in update, and compute() refuses
    assert unchecked.validate_args is False
    for batch in (parts[0], bad):
        unchecked.update(*batch)
    with pytest.raises(ValueError, match="validate_args=True"):
        unchecked.compute()


def test_alpha_metric_is_the_documented_alias():
    import req_plugins

    assert AlphaMetric is AlphaReQ and req_plugins.AlphaMetric is AlphaReQ
