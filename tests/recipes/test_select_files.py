"""req-select reads model files with ``weights_only=True``: a pickle that would run code is refused
without running it, a garbage or non-finite file is reported by name and left out, the other
models are still compared."""

from __future__ import annotations

import torch

from req_plugins.recipes.select_cli import main
from tests.recipes.synthetic import write_models

ALPHAS = [0.6, 1.0, 1.6, 2.4]


class _WritesMarker:
    """Unpickling this calls ``open(marker, "w")``: code run by merely loading the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _select(folder, capsys):
    code = main([str(folder), "--parallel", "2", "--linear-epochs", "5"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_pickle_that_would_run_code_is_refused_and_not_run(tmp_path, capsys):
    models = tmp_path / "models"
    write_models(models, ALPHAS)
    marker = tmp_path / "pwned"
    torch.save({"train_features": _WritesMarker(marker)}, models / "evil.features.pt")
    run = models / "evil_run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("method: {name: mv_barlow_twins}\n")
    torch.save({"state_dict": _WritesMarker(marker)}, run / "checkpoints" / "last.ckpt")

    code, out, err = _select(models, capsys)
    assert not marker.exists()
    assert code == 0
    assert "skipped evil: refused" in err and "evil.features.pt" in err
    assert "skipped evil_run: refused" in err and "last.ckpt" in err
    assert "exhaustive search would run: 4" in out  # the four intact models were compared
    assert "evil" not in out

    # A folder of nothing but such files: refused as a whole, exit 2, still nothing run.
    only = tmp_path / "only"
    only.mkdir()
    (models / "evil.features.pt").rename(only / "evil.features.pt")
    code, out, err = _select(only, capsys)
    assert code == 2 and "none of the 1 model(s)" in err and not marker.exists()


def test_garbage_and_non_finite_files_are_named_and_skipped(tmp_path, capsys):
    models = tmp_path / "models"
    write_models(models, ALPHAS)
    (models / "garbage.features.pt").write_bytes(b"not a torch file\x00" * 10)
    truncated = (models / "model_00.features.pt").read_bytes()[:200]
    (models / "truncated.features.pt").write_bytes(truncated)
    nan = torch.load(models / "model_01.features.pt", weights_only=True)
    nan["test_features"][3, 7] = float("nan")
    torch.save(nan, models / "diverged.features.pt")
    torch.save({"train_features": torch.zeros(2, 2)}, models / "partial.features.pt")

    code, out, err = _select(models, capsys)
    assert code == 0
    assert "skipped garbage: cannot read" in err and "garbage.features.pt" in err
    assert "skipped truncated: cannot read" in err
    assert "skipped diverged:" in err and "1 of 800 rows of `test_features`" in err
    assert "skipped partial:" in err and "lacks ['train_targets'" in err
    assert "Traceback" not in err
    assert "exhaustive search would run: 4" in out
