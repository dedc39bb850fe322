"""At m = 2 the plugin's losses are solo-learn's own, on the same embeddings."""

import pytest

from tests.solo.availability import skip_module_without_solo

skip_module_without_solo()

import torch  # noqa: E402
from solo.losses.barlow import barlow_loss_func  # noqa: E402
from solo.losses.vicreg import vicreg_loss_func  # noqa: E402
from solo.methods import METHODS  # noqa: E402

from tests.solo.helpers import PROJECTOR, image_batch, method_cfg  # noqa: E402


@pytest.mark.parametrize(("lamb", "scale_loss"), [(0.0051, 0.024), (0.005, 0.1), (0.05, 1.0)])
def test_mv_barlow_twins_equals_solo_barlow_loss(lamb, scale_loss):
    model = METHODS["mv_barlow_twins"](
        method_cfg("mv_barlow_twins", {**PROJECTOR, "lamb": lamb, "scale_loss": scale_loss})
    )
    generator = torch.Generator().manual_seed(0)
    # shifted and scaled so that the batch normalisation matters
    z1 = 3.0 * torch.randn(64, 32, generator=generator) + 1.0
    z2 = z1 + 0.5 * torch.randn(64, 32, generator=generator)

    ours = model.scale_loss * model.mv_barlow_loss([z1, z2])
    # float32: solo-learn's BatchNorm1d holds float32 statistics
    theirs = barlow_loss_func(z1, z2, lamb=lamb, scale_loss=scale_loss)

    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_mv_barlow_twins_equals_solo_on_model_embeddings():
    """The same check on the projector outputs of two crops, as in a training step."""
    torch.manual_seed(0)
    model = METHODS["mv_barlow_twins"](
        method_cfg("mv_barlow_twins", {**PROJECTOR, "lamb": 0.0051, "scale_loss": 0.024})
    )
    z1, z2 = (model(image_batch(8))["z"] for _ in range(2))

    ours = model.scale_loss * model.mv_barlow_loss([z1, z2])
    theirs = barlow_loss_func(z1, z2, lamb=0.0051, scale_loss=0.024)

    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_mv_vicreg_equals_solo_vicreg_with_doubled_variance_weight():
    """solo-learn sums the two variance hinges; the plugin (official VICReg) averages them."""
    kwargs = {"sim_loss_weight": 25.0, "var_loss_weight": 25.0, "cov_loss_weight": 1.0}
    model = METHODS["mv_vicreg"](
        method_cfg("mv_vicreg", {**PROJECTOR, **kwargs, "var_loss_weight": 50.0})
    )
    generator = torch.Generator().manual_seed(1)
    z1 = 0.3 * torch.randn(64, 32, generator=generator, dtype=torch.float64)
    z2 = z1 + 0.1 * torch.randn(64, 32, generator=generator, dtype=torch.float64)

    torch.testing.assert_close(
        model.mv_vicreg_loss([z1, z2]), vicreg_loss_func(z1, z2, **kwargs), rtol=1e-10, atol=0
    )
