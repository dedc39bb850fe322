"""AdaDim's α lives in solo-learn's checkpoints: resuming continues the schedule exactly."""

import pytest

from tests.solo.availability import skip_module_without_solo

skip_module_without_solo()

import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402
from solo.methods import METHODS  # noqa: E402
from solo.utils.checkpointer import Checkpointer  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from tests.solo.helpers import PROJECTOR, cpu_trainer, method_cfg  # noqa: E402

MAX_EPOCHS = 4
EVERY_N_EPOCHS = 2  # α is measured at the start of epoch 2 only


class FixedCrops(Dataset):
    """Two fixed 'crops' per image: the run is deterministic, so two runs can be compared."""

    def __init__(self, size=8):
        generator = torch.Generator().manual_seed(0)
        self.crops = torch.randn(size, 2, 3, 32, 32, generator=generator)
        self.labels = torch.randint(0, 10, (size,), generator=generator)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return index, [self.crops[index, 0], self.crops[index, 1]], self.labels[index]


class Recorder(Callback):
    """Loss of every step and the controller's α at the first step of every epoch."""

    def __init__(self):
        self.losses, self.alphas = {}, {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            controller = pl_module.alpha_controller
            self.alphas[trainer.current_epoch] = (
                controller.measured_alpha,
                controller.measured_epoch,
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses[(trainer.current_epoch, batch_idx)] = float(outputs["loss"])


def adadim_cfg():
    cfg = method_cfg(
        "adadim",
        {**PROJECTOR, "alpha_every_n_epochs": EVERY_N_EPOCHS, "alpha_num_batches": 2},
    )
    cfg.max_epochs = MAX_EPOCHS
    cfg.checkpoint = {"enabled": True, "frequency": 1, "keep_prev": True}
    return cfg


def fit(cfg, ckpt_path=None, callbacks=()):
    torch.manual_seed(0)
    model = METHODS["adadim"](cfg)
    loader = DataLoader(FixedCrops(), batch_size=4, shuffle=False)
    trainer = cpu_trainer(fast_dev_run=False, max_epochs=MAX_EPOCHS, callbacks=list(callbacks))
    trainer.fit(model, loader, ckpt_path=ckpt_path)
    return model


@pytest.mark.slow
def test_resumed_adadim_reproduces_alpha_and_the_next_losses(tmp_path):
    cfg = adadim_cfg()
    full_run = Recorder()
    checkpointer = Checkpointer(cfg, logdir=tmp_path, frequency=1, keep_prev=True)
    fit(cfg, callbacks=[full_run, checkpointer])

    measured_alpha, measured_epoch = full_run.alphas[3]
    assert measured_epoch == 2 and 0.0 < measured_alpha <= 1.0
    assert full_run.alphas[1] == (0.0, -1), "α is 0 before the first measurement"

    # the checkpoint written at the end of epoch 2 (three epochs done) holds the measured α
    (ckpt_path,) = tmp_path.glob("*/*-ep=2.ckpt")
    restored = METHODS["adadim"](adadim_cfg())
    restored.load_state_dict(torch.load(ckpt_path, weights_only=False)["state_dict"])
    assert restored.alpha_controller.measured_alpha == measured_alpha
    assert restored.alpha_controller.measured_epoch == 2

    # resuming runs epoch 3 without re-measuring (due again at epoch 4) and with the same α
    resumed = Recorder()
    fit(adadim_cfg(), ckpt_path=str(ckpt_path), callbacks=[resumed])
    assert resumed.alphas == {3: (measured_alpha, 2)}
    assert set(resumed.losses) == {(3, 0), (3, 1)}
    for step, loss in resumed.losses.items():
        assert loss == pytest.approx(full_run.losses[step], rel=1e-6, abs=1e-7), step
