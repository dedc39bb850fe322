"""Each plugin method in solo-learn's own test pattern: config, parameters, forward, short fits."""

import math

import pytest

from tests.solo.availability import skip_module_without_solo

skip_module_without_solo()

import torch  # noqa: E402
from solo.methods import METHODS  # noqa: E402

from req_plugins.solo import (  # noqa: E402
    AdaDim,
    LowDimBarlowTwins,
    LowDimVICReg,
    MultiViewBarlowTwins,
    MultiViewVICReg,
)
from tests.solo.helpers import (  # noqa: E402
    NUM_CLASSES,
    PROJECTOR,
    cpu_trainer,
    fake_loaders,
    image_batch,
    method_cfg,
)

METHOD_KWARGS = {
    "mv_barlow_twins": {**PROJECTOR, "lamb": 0.005, "scale_loss": 0.1},
    "mv_vicreg": dict(PROJECTOR),
    "lowdim_barlow_twins": {"proj_output_dim": 16},
    "lowdim_vicreg": {"proj_output_dim": 16},
    # a fixed α in (0, 1) switches on all three terms: VICReg, InfoNCE and I(R;Z)
    "adadim": {**PROJECTOR, "alpha_mode": "fixed", "alpha": 0.5},
}
CLASSES = {
    "mv_barlow_twins": MultiViewBarlowTwins,
    "mv_vicreg": MultiViewVICReg,
    "lowdim_barlow_twins": LowDimBarlowTwins,
    "lowdim_vicreg": LowDimVICReg,
    "adadim": AdaDim,
}


@pytest.mark.parametrize("name", sorted(METHOD_KWARGS))
def test_method_is_registered_in_solo(name):
    assert METHODS[name] is CLASSES[name]


@pytest.mark.parametrize("name", sorted(METHOD_KWARGS))
def test_construct_parameters_forward(name):
    cfg = method_cfg(name, METHOD_KWARGS[name])
    model = METHODS[name](cfg)
    cfg = model.add_and_assert_specific_cfg(cfg)
    d = cfg.method_kwargs.proj_output_dim

    groups = {group["name"]: list(group["params"]) for group in model.learnable_params}
    assert {"backbone", "classifier", "projector"} <= set(groups)
    projector_ids = {id(p) for p in model.projector.parameters()}
    assert {id(p) for p in groups["projector"]} == projector_ids
    assert projector_ids, "the projector has parameters"

    batch_size = cfg.optimizer.batch_size
    out = model(image_batch(batch_size))
    assert out["logits"].shape == (batch_size, NUM_CLASSES)
    assert out["feats"].shape == (batch_size, model.features_dim)
    assert out["z"].shape == (batch_size, d)
    small = model.multicrop_forward(image_batch(batch_size, size=16))
    assert small["z"].shape == (batch_size, d)


@pytest.mark.parametrize("name", sorted(METHOD_KWARGS))
@pytest.mark.parametrize(
    ("num_large_crops", "num_small_crops"), [(2, 0), (4, 0), (2, 2)], ids=["2L", "4L", "2L+2S"]
)
def test_fits(name, num_large_crops, num_small_crops):
    cfg = method_cfg(
        name,
        METHOD_KWARGS[name],
        num_large_crops=num_large_crops,
        num_small_crops=num_small_crops,
    )
    model = METHODS[name](cfg)
    num_views = num_large_crops + num_small_crops
    seen_views = []
    if name == "adadim":  # a 2-view loss, applied to every pair of views
        expected_calls = [2] * math.comb(num_views, 2)
        model.adadim_loss.register_forward_pre_hook(
            lambda module, args: seen_views.append(len(args))
        )
    else:
        expected_calls = [num_views]
        loss_fn = getattr(model, "mv_barlow_loss", None) or model.mv_vicreg_loss
        loss_fn.register_forward_pre_hook(lambda module, args: seen_views.append(len(args[0])))
    before = [p.detach().clone() for p in model.projector.parameters()]

    train_loader, val_loader = fake_loaders(cfg)
    cpu_trainer().fit(model, train_loader, val_loader)

    assert seen_views == expected_calls
    after = list(model.projector.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True)), (
        "the projector trained"
    )


def test_low_dim_defaults_follow_the_thesis():
    cfg = LowDimBarlowTwins.add_and_assert_specific_cfg(method_cfg("lowdim_barlow_twins"))
    kwargs = cfg.method_kwargs
    assert (kwargs.proj_output_dim, kwargs.proj_hidden_dim, kwargs.proj_num_layers) == (256, 256, 2)
    model = LowDimBarlowTwins(method_cfg("lowdim_barlow_twins"))
    assert model.lamb == pytest.approx(4e-4 * 8192 / 256)
    vicreg = LowDimVICReg(method_cfg("lowdim_vicreg"))
    assert vicreg.cov_loss_weight == pytest.approx(25 * 1.3e-3 * 8192 / 256)


def test_explicit_weights_override_the_rule():
    model = MultiViewBarlowTwins(method_cfg("mv_barlow_twins", METHOD_KWARGS["mv_barlow_twins"]))
    assert (model.lamb, model.scale_loss) == (0.005, 0.1)


@pytest.mark.parametrize(
    ("name", "kwargs", "key"),
    [
        ("mv_barlow_twins", {"proj_hidden_dim": 64}, "method_kwargs.proj_output_dim"),
        ("mv_barlow_twins", {"proj_output_dim": 32}, "method_kwargs.proj_hidden_dim"),
        ("mv_barlow_twins", {**PROJECTOR, "lamb": -1.0}, "method_kwargs.lamb"),
        ("mv_barlow_twins", {**PROJECTOR, "scale_loss": "big"}, "method_kwargs.scale_loss"),
        ("mv_vicreg", {**PROJECTOR, "var_loss_weight": -2}, "method_kwargs.var_loss_weight"),
        ("lowdim_vicreg", {"proj_output_dim": 1}, "method_kwargs.proj_output_dim"),
        # AdaDim's settings are checked by AdaDimLoss / AdaDimController, named by config key
        ("adadim", {**PROJECTOR, "temperature": 0.0}, "method_kwargs.temperature"),
        ("adadim", {**PROJECTOR, "sim_loss_weight": -1.0}, "method_kwargs.sim_loss_weight"),
        ("adadim", {**PROJECTOR, "gamma": "sometimes"}, "method_kwargs.gamma"),
        ("adadim", {**PROJECTOR, "mi_max_samples": 1}, "method_kwargs.mi_max_samples"),
        ("adadim", {**PROJECTOR, "alpha_mode": "fixed"}, "method_kwargs.alpha"),
        ("adadim", {**PROJECTOR, "alpha_mode": "step"}, "method_kwargs.alpha_mode"),
        ("adadim", {**PROJECTOR, "alpha_every_n_epochs": 0}, "method_kwargs.alpha_every_n_epochs"),
    ],
)
def test_bad_config_names_the_key(name, kwargs, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        METHODS[name](method_cfg(name, kwargs))
