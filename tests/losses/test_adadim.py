import io
import math

import pytest
import torch
from lightly.loss import NTXentLoss as LightlyNTXentLoss
from lightly.loss import VICRegLoss

from req_plugins.functional import effective_rank, matrix_mutual_information
from req_plugins.losses import (
    AdaDimController,
    AdaDimLoss,
    MultiViewVICRegLoss,
    NTXentLoss,
)


def _batch(n=32, d_z=16, d_r=24, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    r = [torch.randn(n, d_r, generator=generator, dtype=dtype) for _ in range(2)]
    projection = torch.randn(d_r, d_z, generator=generator, dtype=dtype)
    z = [torch.tanh(x @ projection) for x in r]
    return [x.requires_grad_() for x in z], [x.requires_grad_() for x in r]


def _value_and_grads(loss, inputs):
    return loss.detach(), torch.autograd.grad(loss, inputs, allow_unused=True)


@pytest.mark.parametrize("gamma", ["adaptive", "off", 1.0])
def test_alpha_zero_is_exactly_vicreg(gamma):
    # with a constant γ the MI term stays on at α = 0, so only adaptive/off are pure VICReg
    (z_a, z_b), r = _batch()
    loss = AdaDimLoss(gamma=gamma)(z_a, z_b, r=r, alpha=0.0)
    vicreg = MultiViewVICRegLoss()(z_a, z_b)
    if gamma == 1.0:
        mi = matrix_mutual_information(torch.cat(r), torch.cat([z_a, z_b]))
        torch.testing.assert_close(loss, vicreg + 1e-4 * mi, rtol=1e-14, atol=0)
    else:
        assert torch.equal(loss, vicreg)
        torch.testing.assert_close(loss, VICRegLoss()(z_a, z_b), rtol=1e-14, atol=0)
        got, expected = _value_and_grads(loss, [z_a, z_b]), _value_and_grads(vicreg, [z_a, z_b])
        for grad, expected_grad in zip(got[1], expected[1], strict=True):
            assert torch.equal(grad, expected_grad)


def test_alpha_one_with_gamma_off_is_exactly_infonce():
    (z_a, z_b), r = _batch(seed=1)
    loss = AdaDimLoss(gamma="off")(z_a, z_b, r=r, alpha=1.0)
    infonce = NTXentLoss(temperature=0.1)(z_a, z_b)
    assert torch.equal(loss, infonce)
    torch.testing.assert_close(loss, LightlyNTXentLoss(temperature=0.1)(z_a, z_b))
    got = torch.autograd.grad(loss, [z_a, z_b])
    expected = torch.autograd.grad(infonce, [z_a, z_b])
    for grad, expected_grad in zip(got, expected, strict=True):
        assert torch.equal(grad, expected_grad)


@pytest.mark.parametrize(
    ("alpha", "gamma", "gamma_value"), [(0.3, "adaptive", 0.3), (0.6, 2.0, 2.0)]
)
def test_mixture_with_mutual_information_term(alpha, gamma, gamma_value):
    (z_a, z_b), r = _batch(seed=2)
    beta = 0.5  # large enough for the MI term to matter in the comparison
    criterion = AdaDimLoss(beta=beta, gamma=gamma, temperature=0.2)
    loss, grads = _value_and_grads(criterion(z_a, z_b, r=r, alpha=alpha), [z_a, z_b, *r])
    expected_loss = (
        (1 - alpha) * MultiViewVICRegLoss()(z_a, z_b)
        + alpha * NTXentLoss(0.2)(z_a, z_b)
        + beta * gamma_value * matrix_mutual_information(torch.cat(r), torch.cat([z_a, z_b]))
    )
    expected, expected_grads = _value_and_grads(expected_loss, [z_a, z_b, *r])
    torch.testing.assert_close(loss, expected, rtol=1e-13, atol=0)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-14)
    assert all(g.abs().sum() > 0 for g in grads[2:])  # the MI term reaches the backbone


def test_r_as_one_stacked_tensor_or_a_pair():
    (z_a, z_b), (r_a, r_b) = _batch(seed=3)
    criterion = AdaDimLoss(beta=0.1)
    torch.testing.assert_close(
        criterion(z_a, z_b, r=(r_a, r_b), alpha=0.5),
        criterion(z_a, z_b, r=torch.cat([r_a, r_b]), alpha=0.5),
        rtol=0,
        atol=0,
    )


def test_float32_embeddings_give_a_float32_loss():
    (z_a, z_b), r = _batch(dtype=torch.float32, seed=4)
    assert AdaDimLoss(beta=0.1)(z_a, z_b, r=r, alpha=0.5).dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "call", "message"),
    [
        ({}, {"alpha": 1.5}, "`alpha` must be <= 1"),
        ({}, {"alpha": -0.1}, "`alpha` must be >= 0"),
        ({}, {"alpha": 0.5, "r": None}, "`r` .* is required"),
        ({}, {"alpha": 0.5, "r": "bad"}, "`r` must be a torch.Tensor"),
        ({}, {"alpha": 0.5, "r": "rows"}, "representations of both views"),
        ({"gamma": "sometimes"}, None, "`gamma` must be one of"),
        ({"gamma": -1.0}, None, "`gamma` must be >= 0"),
        ({"beta": -1e-4}, None, "`beta` must be >= 0"),
        ({"temperature": 0.0}, None, "`temperature` must be > 0"),
    ],
)
def test_bad_input(kwargs, call, message):
    (z_a, z_b), r = _batch(seed=5)
    with pytest.raises(ValueError, match=message):
        criterion = AdaDimLoss(**kwargs)
        if call is not None:
            call = dict(call)
            if call.get("r") == "rows":
                call["r"] = r[0]
            call.setdefault("r", r)
            criterion(z_a, z_b, **call)


def test_embeddings_are_validated():
    (z_a, _), r = _batch(seed=6)
    with pytest.raises(ValueError, match="same shape"):
        AdaDimLoss()(z_a, z_a[:, :5], r=r, alpha=0.5)


# --------------------------------------------------------------------------- controller


def _features_of_rank(rank, n=64, d=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, rank, generator=generator) @ torch.randn(rank, d, generator=generator)


def test_alpha_increases_with_the_rank_of_the_representations():
    alphas = []
    for rank in (2, 4, 8, 16, 32, 64):
        controller = AdaDimController(num_batches=3)
        batches = [_features_of_rank(rank, seed=s) for s in range(3)]
        alphas.append(controller.measure(batches, epoch=20))
    assert alphas == sorted(alphas) and alphas[0] < 0.1 < 0.5 < alphas[-1] <= 1.0
    # and α is the normalised effective rank averaged over the batches
    expected = sum(float(effective_rank(b, normalized=True)) for b in batches) / 3
    assert alphas[-1] == pytest.approx(min(expected, 1.0), rel=1e-12)


def _training_features(epoch, batch):
    """Synthetic representations whose rank grows during training: 2 + epoch, up to 64."""
    return _features_of_rank(min(2 + epoch, 64), seed=1000 * epoch + batch)


def _run(controller, epochs, max_epochs=100):
    history = []
    for epoch in epochs:
        if controller.should_measure(epoch):
            controller.measure(
                (_training_features(epoch, b) for b in range(1000)), epoch
            )  # a lazy stream: only num_batches of it are drawn
        history.append((epoch, controller.alpha(epoch, max_epochs), controller.measured_epoch))
    return history


def test_adaptive_schedule_measures_every_e_epochs_and_alpha_tracks_rank():
    controller = AdaDimController(num_batches=2, every_n_epochs=10)
    history = _run(controller, range(50))
    alphas = [alpha for _, alpha, _ in history]
    assert alphas[:10] == [0.0] * 10  # α = 0 before the first measurement
    measured_at = sorted({measured for _, _, measured in history if measured >= 0})
    assert measured_at == [10, 20, 30, 40]
    # constant between measurements, increasing with the rank at each measurement
    for epoch in range(10, 50):
        assert alphas[epoch] == alphas[10 * (epoch // 10)]
    assert alphas[10] < alphas[20] < alphas[30] < alphas[40]


def test_restored_controller_continues_the_same_schedule():
    reference = _run(AdaDimController(num_batches=2, every_n_epochs=7), range(60))

    first = AdaDimController(num_batches=2, every_n_epochs=7)
    first_half = _run(first, range(25))
    # a checkpoint written through torch.save, as Lightning does, inside a parent module
    parent = torch.nn.ModuleDict({"controller": first})
    buffer = io.BytesIO()
    torch.save(parent.state_dict(), buffer)
    buffer.seek(0)

    restored = torch.nn.ModuleDict(
        {"controller": AdaDimController(num_batches=2, every_n_epochs=7)}
    )
    restored.load_state_dict(torch.load(buffer, weights_only=False))
    assert restored["controller"].measured_epoch == 21
    assert restored["controller"].measured_alpha == first.measured_alpha > 0
    second_half = _run(restored["controller"], range(25, 60))
    assert first_half + second_half == reference

    # a fresh controller that is not restored does not continue the schedule
    assert _run(AdaDimController(num_batches=2, every_n_epochs=7), range(25, 60)) != reference[25:]


@pytest.mark.parametrize("alpha", [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0])
def test_fixed_alpha(alpha):
    controller = AdaDimController("fixed", alpha=alpha)
    assert [controller.alpha(e, 100) for e in (0, 50, 99)] == [alpha] * 3
    assert controller.alpha() == alpha
    assert not controller.should_measure(20)


def test_linear_and_cosine_schedules_go_from_zero_to_one():
    linear, cosine = AdaDimController("linear"), AdaDimController("cosine")
    for epoch in (0, 10, 37.5, 50, 80, 100, 120):
        p = min(epoch / 100, 1.0)
        assert linear.alpha(epoch, 100) == p
        assert cosine.alpha(epoch, 100) == pytest.approx((1 - math.cos(math.pi * p)) / 2)
    assert cosine.alpha(0, 100) == 0.0 and cosine.alpha(100, 100) == 1.0
    values = [cosine.alpha(e, 100) for e in range(101)]
    assert values == sorted(values)
    assert not linear.should_measure(40)
    with pytest.raises(ValueError, match="needs `epoch` and `max_epochs`"):
        linear.alpha()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "exponential"}, "`mode` must be one of"),
        ({"mode": "fixed"}, "`alpha` is required"),
        ({"mode": "fixed", "alpha": 1.2}, "`alpha` must be <= 1"),
        ({"mode": "cosine", "alpha": 0.5}, "only used with mode='fixed'"),
        ({"num_batches": 0}, "`num_batches` must be >= 1"),
        ({"every_n_epochs": 0}, "`every_n_epochs` must be >= 1"),
    ],
)
def test_controller_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdaDimController(**kwargs)


def test_controller_bad_measurements_and_state():
    controller = AdaDimController()
    with pytest.raises(ValueError, match="yielded no batch"):
        controller.measure([], epoch=20)
    with pytest.raises(ValueError, match=r"`features\[1\]` must be a torch.Tensor"):
        controller.measure([torch.randn(8, 4), "x"], epoch=20)
    with pytest.raises(ValueError, match="non-finite"):
        controller.measure([torch.full((8, 4), float("nan"))], epoch=20)
    with pytest.raises(ValueError, match="`epoch` must be >= 0"):
        controller.should_measure(-1)
    with pytest.raises(ValueError, match="state must be a dict"):
        controller.load_state_dict({"_extra_state": {"alpha": 0.3}})
    assert (controller.measured_alpha, controller.measured_epoch) == (0.0, -1)


def test_measure_draws_only_k_batches_and_closes_a_generator():
    drawn, closed = [], []

    def stream():
        try:
            for b in range(100):
                drawn.append(b)
                yield _features_of_rank(8, seed=b)
        finally:
            closed.append(True)

    AdaDimController(num_batches=4).measure(stream(), epoch=20)
    assert drawn == [0, 1, 2, 3]
    assert closed == [True]


def test_measure_runs_the_backbone_without_gradients():
    backbone = torch.nn.Linear(8, 8)
    inputs = [torch.randn(16, 8) for _ in range(2)]
    grad_enabled = []

    def features():
        for x in inputs:
            out = backbone(x)
            grad_enabled.append(out.requires_grad)
            yield out

    AdaDimController(num_batches=2).measure(features(), epoch=20)
    assert grad_enabled == [False, False]
