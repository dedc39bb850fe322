"""The trained models ``req-select`` compares, found in a folder, and their α and
linear-probe accuracy (:class:`CandidateScorer`).

A folder holds

* req-train run folders (``config.yaml`` + ``checkpoints/*.ckpt``; a recipe's
  output folder holds one per run): the model is rebuilt by req-train from its
  config, the checkpoint's weights are loaded, α is computed on the backbone
  features of the held-out split and the probe is req-train's linear probe;
* feature files ``*.features.pt`` (a dict with ``train_features``,
  ``train_targets``, ``test_features``, ``test_targets``) for models trained
  elsewhere.

Every file is read with ``torch.load(..., weights_only=True)``: tensors, plain
containers and the few classes a req-train checkpoint holds
(:func:`req_plugins.recipes.model_files.safe_load`), never arbitrary pickled objects, so a file from
elsewhere cannot run code. A file that cannot be read this way (corrupt,
truncated, holding other pickled objects) or that holds non-finite features is
reported by name and left out; the others are still compared. Each run's probe
uses that run's own ``seed`` and ``eval.linear_*`` settings, so its accuracy is
the one its recipe report shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: req-select --help does not load it
    from torch import Tensor

FEATURE_SUFFIX = ".features.pt"


@dataclass
class Candidate:
    """A trained model found in a folder: a req-train run or a feature file."""

    name: str
    path: Path
    kind: str  # "run" | "features"
    checkpoint: Path | None = None
    config: Any = field(default=None, repr=False)  # the run's req-train config, once loaded
    features: tuple[Tensor, Tensor, Tensor, Tensor] | None = field(default=None, repr=False)


def find_candidates(root: str | Path) -> list[Candidate]:
    """Every req-train run folder and ``*.features.pt`` file under ``root``, sorted by path
    (runs a recipe moved to ``superseded/`` left out)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"`CHECKPOINT_DIR` {str(root)!r} is not a directory.")
    candidates = []
    for config in sorted(root.rglob("config.yaml")):
        run = config.parent
        if "superseded" in run.relative_to(root).parts:  # old runs a recipe replaced
            continue
        checkpoints = sorted((run / "checkpoints").glob("*.ckpt"))
        if not checkpoints:
            continue
        last = run / "checkpoints" / "last.ckpt"
        checkpoint = last if last.is_file() else checkpoints[-1]
        candidates.append(Candidate(str(run.relative_to(root)), run, "run", checkpoint))
    for path in sorted(root.rglob(f"*{FEATURE_SUFFIX}")):
        name = str(path.relative_to(root))[: -len(FEATURE_SUFFIX)]
        candidates.append(Candidate(name, path, "features"))
    if not candidates:
        raise ValueError(
            f"no trained models under {str(root)!r}: expected req-train run folders (config.yaml "
            f"and checkpoints/*.ckpt) or feature files (*{FEATURE_SUFFIX})."
        )
    return candidates


def _run_features(candidate: Candidate, data_path: str | None, device: str):
    """Rebuild a req-train run from its config, load its checkpoint, extract backbone features."""
    from req_plugins.lightly.config import load_config
    from req_plugins.lightly.evaluation import extract_features
    from req_plugins.lightly.train import prepare_run

    overrides = [
        f"checkpoint.resume={candidate.checkpoint}",  # also tells req-train the folder is in use
        "checkpoint.enabled=false",
        "logging.csv=false",
        "logging.tensorboard=false",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.strategy=auto",
    ]
    if data_path is not None:
        overrides.append(f"data.path={data_path}")
    from req_plugins.recipes.model_files import BadModelFile, check_features, safe_load

    state = safe_load(candidate.checkpoint)  # before building anything from the folder
    if not isinstance(state, dict) or "state_dict" not in state:
        raise BadModelFile(f"{str(candidate.checkpoint)!r} is not a Lightning checkpoint.")
    try:
        run = prepare_run(load_config(candidate.path / "config.yaml", overrides))
        run.module.load_state_dict(state["state_dict"])
    except (ValueError, RuntimeError, KeyError) as error:
        raise BadModelFile(
            f"{str(candidate.path)!r}: its checkpoint does not fit its config.yaml "
            f"({str(error).splitlines()[0]})"
        ) from None
    module = run.module.to(device)
    train = extract_features(module, run.datamodule.eval_dataloader("train"))
    test = extract_features(module, run.datamodule.eval_dataloader("test"))
    return check_features(candidate.checkpoint, (*train, *test)), run.config


class CandidateScorer:
    """α and linear-probe accuracy of candidates, features extracted once per model.

    A req-train run's probe uses the run's ``seed`` and ``eval.linear_epochs`` /
    ``linear_lr`` / ``linear_batch_size`` (``linear_epochs`` overrides the epochs);
    feature files use ``seed``, ``linear_lr`` and a batch of 256.
    """

    def __init__(
        self,
        candidates: Sequence[Candidate],
        *,
        data_path: str | None = None,
        device: str = "cpu",
        linear_epochs: int | None = None,
        linear_lr: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.candidates = {c.name: c for c in candidates}
        self.data_path = data_path
        self.device = device
        self.linear_epochs = linear_epochs
        self.linear_lr = linear_lr
        self.seed = seed

    def features(self, name: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        candidate = self.candidates[name]
        if candidate.features is None:
            if candidate.kind == "features":
                from req_plugins.recipes.model_files import load_feature_file

                candidate.features = load_feature_file(candidate.path)
            else:
                candidate.features, candidate.config = _run_features(
                    candidate, self.data_path, self.device
                )
        return candidate.features

    def alpha(self, name: str) -> float:
        """α of the held-out features (α-ReQ: computed on the validation split)."""
        from req_plugins.functional import alpha_req

        return float(alpha_req(self.features(name)[2]).alpha)

    def accuracy(self, name: str) -> float:
        from req_plugins.lightly.evaluation import linear_probe_accuracy

        train_x, train_y, test_x, test_y = self.features(name)
        config = self.candidates[name].config
        settings = {"epochs": 100, "lr": self.linear_lr, "batch_size": 256, "seed": self.seed}
        if config is not None:  # the run's own probe, as its training run evaluated it
            settings = {
                "epochs": int(config.eval.linear_epochs),
                "lr": float(config.eval.linear_lr),
                "batch_size": int(config.eval.linear_batch_size),
                "seed": int(config.seed),
            }
            if "protocol" in config.eval:  # the probe's optimizer recipe (sgd | thesis)
                settings["protocol"] = str(config.eval.protocol)
        if self.linear_epochs is not None:
            settings["epochs"] = self.linear_epochs
        num_classes = int(max(train_y.max(), test_y.max())) + 1
        return linear_probe_accuracy(
            train_x, train_y, test_x, test_y, num_classes=num_classes, **settings
        )

    def usable(self, log=print) -> list[str]:
        """Load every candidate's features; report each unusable one (by name) and leave it
        out; return the names of the others."""
        from req_plugins.recipes.model_files import BadModelFile

        names = []
        for name in self.candidates:
            try:
                self.features(name)
            except BadModelFile as error:
                log(f"req-select: skipped {name}: {error}")
                continue
            names.append(name)
        return names
