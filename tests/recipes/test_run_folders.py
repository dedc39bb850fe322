"""A recipe's output folder never loses or mixes runs: a run's identity ignores how paths are
spelled and inputs the scale does not use; a changed config is refused (nothing touched) or,
with --retrain, the old run is moved aside and named; a run held by another launcher is skipped;
report files are replaced atomically."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap

import pytest

from req_plugins.recipes.candidates import CandidateScorer, find_candidates
from req_plugins.recipes.cli import main
from req_plugins.recipes.identity import changed_keys, config_text, identity
from req_plugins.recipes.run import run_recipe
from req_plugins.recipes.select_cli import main as select_main
from req_plugins.rundir import LOCK_FILE

pytestmark = pytest.mark.slow

# Two arms × two seeds of a very small run on the embedded digits: the cheapest sweep that has
# several runs and a seed other than 0. Probe settings differ from req-select's defaults.
TINY = textwrap.dedent(
    """\
    name: tiny
    title: "Tiny sweep"
    kind: sweep
    paper:
      source: test
      dataset: digits
      setting: test
      results: [{d: 16, value: 50.0}]
    analysis: {kind: final_metric, metric: linear_top1, rows: [d]}
    train:
      method: {name: mv_barlow_twins}
      data: {name: digits, batch_size: 128, num_workers: 0}
      backbone: {name: small_cnn, width: 4}
      projector: {hidden_dim: 16, output_dim: 16}
      trainer: {max_epochs: 1, accelerator: cpu, log_every_n_steps: 5,
                check_val_every_n_epoch: 1000, progress_bar: false}
      metrics: {every_n_epochs: 1000, names: [uniformity]}
      spectrum: {enabled: false}
      eval: {linear_epochs: 5, linear_lr: 0.05, linear_batch_size: 128}
      plots: false
    axes:
      d: [16, 32]
    rules:
      - set: {projector.output_dim: "{d}"}
    scales:
      full: {seeds: 1}
      smoke: {seeds: 2, torch_threads: 1}
    """
)


def _write_recipe(folder, text=TINY):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """``(recipe path, output folder)`` of the tiny sweep, run once at smoke scale."""
    root = tmp_path_factory.mktemp("tiny")
    recipe = _write_recipe(root / "recipe")
    out = root / "out"
    assert main(["run", str(recipe), "--out", str(out)]) == 0
    return recipe, out


def _snapshot(out):
    """Every file under ``out`` (lock files aside) with its bytes."""
    return {
        str(path.relative_to(out)): path.read_bytes()
        for path in sorted(out.rglob("*"))
        if path.is_file() and path.name != LOCK_FILE
    }


def _identity_text(**data):
    return config_text({"method": {"name": "mv_barlow_twins"}, "data": data}, {})


def test_identity_ignores_path_spelling_and_unused_paths(tmp_path, monkeypatch):
    (tmp_path / "cifar").mkdir()
    monkeypatch.chdir(tmp_path)
    spellings = ["cifar", "./cifar/", str(tmp_path / "cifar"), str(tmp_path / "cifar") + "/"]
    identities = [identity(_identity_text(name="cifar10", path=path)) for path in spellings]
    assert all(found == identities[0] for found in identities)
    assert identities[0]["data.path"] == str(tmp_path / "cifar")
    other = identity(_identity_text(name="cifar10", path=str(tmp_path / "elsewhere")))
    assert changed_keys(identities[0], other) == ["data.path"]
    # The embedded digits read no path: given, omitted or anything, the same run.
    digits = [identity(_identity_text(name="digits", path=p)) for p in ("x", "/y/", None)]
    assert digits[0] == digits[1] == digits[2] and "data.path" not in digits[0]
    # Defaults are resolved: spelling a default out changes nothing; changing it does.
    assert identity(_identity_text(name="digits", batch_size=256)) == digits[0]
    assert changed_keys(digits[0], identity(_identity_text(name="digits", batch_size=64))) == [
        "data.batch_size"
    ]


def test_data_spelled_three_ways_retrains_nothing(tiny_run, capsys, monkeypatch):
    recipe, out = tiny_run
    before = _snapshot(out / "runs")
    monkeypatch.chdir(out.parent)
    (out.parent / "data").mkdir(exist_ok=True)
    for spelling in ("data", "./data/", str(out.parent / "data")):
        capsys.readouterr()
        assert main(["run", str(recipe), "--out", str(out), "--data", spelling]) == 0
        assert capsys.readouterr().out.count("read back") == 4
    assert _snapshot(out / "runs") == before  # configs, records, checkpoints untouched


def test_a_changed_config_is_refused_and_nothing_changes(tiny_run, capsys):
    recipe, out = tiny_run
    changed = _write_recipe(
        recipe.parent / "changed", TINY.replace("linear_lr: 0.05", "linear_lr: 0.2")
    )
    before = _snapshot(out)
    capsys.readouterr()
    assert main(["run", str(changed), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "4 finished or interrupted run(s)" in error and "eval.linear_lr" in error
    assert "runs/d=16/seed1" in error and "--retrain" in error
    assert _snapshot(out) == before


def test_retrain_moves_the_old_run_aside_and_names_it(tmp_path, capsys):
    recipe = _write_recipe(tmp_path / "recipe", TINY.replace("d: [16, 32]", "d: [16]"))
    out = tmp_path / "out"
    assert main(["run", str(recipe), "--out", str(out), "--seeds", "1"]) == 0
    old_record = (out / "runs/d=16/seed0.json").read_bytes()
    changed = _write_recipe(
        tmp_path / "changed", TINY.replace("d: [16, 32]", "d: [16]").replace("width: 4", "width: 6")
    )
    capsys.readouterr()
    assert main(["run", str(changed), "--out", str(out), "--seeds", "1", "--retrain"]) == 0
    assert "superseded: runs/d=16/seed0" in capsys.readouterr().out
    (moved,) = (out / "superseded").glob("*/runs/d=16")
    assert (moved / "seed0.json").read_bytes() == old_record
    assert (moved / "seed0" / "checkpoints" / "last.ckpt").is_file()
    assert (out / "runs/d=16/seed0.json").read_bytes() != old_record
    report = (out / "report.md").read_text()
    assert "## Superseded runs" in report and "`backbone.width`" in report
    assert str(moved) in report
    # req-select compares the current runs only.
    assert [c.name for c in find_candidates(out)] == ["runs/d=16/seed0"]


_HOLDER = """
import sys
from req_plugins.rundir import RunLock
with RunLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def _hold(lock_dir):
    """Another launcher: a process holding the run lock ``lock_dir`` until its stdin closes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "locked\n"
    return holder


def test_a_second_launcher_skips_the_runs_another_one_trains(tmp_path, capsys):
    recipe = _write_recipe(tmp_path / "recipe")
    out = tmp_path / "out"
    holder = _hold(out / "runs" / "d=32" / ".lock-seed0")
    try:
        assert main(["run", str(recipe), "--out", str(out), "--seeds", "1"]) == 0
        log = capsys.readouterr().out
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert f"d=32, seed 0: skipped, process {holder.pid} is training it" in log
    assert f"process(es) {holder.pid}" in log and "report not written" in log
    assert (out / "runs/d=16/seed0.json").is_file()
    assert not (out / "runs/d=32/seed0.yaml").exists() and not (out / "report.md").exists()
    # Once the other launcher is done, the same command trains the rest and writes the report.
    assert main(["run", str(recipe), "--out", str(out), "--seeds", "1"]) == 0
    assert "read back" in capsys.readouterr().out
    assert (out / "report.md").is_file()


def test_runs_another_launcher_let_go_of_are_taken_up_before_the_report(tmp_path):
    # Two launchers share a sweep: the one that finishes last must write the report, not
    # report runs as "being trained" by a process that has finished or gone meanwhile.
    recipe = _write_recipe(tmp_path / "recipe")
    out = tmp_path / "out"
    holder = _hold(out / "runs" / "d=16" / ".lock-seed0")
    lines = []

    def log(line):
        lines.append(line)
        if "skipped, process" in line:  # the other launcher lets go while this one trains d=32
            holder.stdin.close()
            holder.wait(timeout=60)

    try:
        output = run_recipe(recipe, out_dir=out, seeds=1, log=log)
    finally:
        if not holder.stdin.closed:
            holder.stdin.close()
        holder.wait(timeout=60)
    assert lines[0] == f"[1/2] d=16, seed 0: skipped, process {holder.pid} is training it"
    assert lines[1].startswith("[2/2] d=32, seed 0: ") and lines[2].startswith("[1/2] d=16, ")
    assert output.busy == [] and output.report is not None
    assert (out / "report.md").is_file()
    with (out / "results.csv").open() as handle:
        assert [row["d"] for row in csv.DictReader(handle)] == ["16", "32"]  # sweep order


def test_report_files_are_replaced_atomically(tiny_run, monkeypatch):
    recipe, out = tiny_run
    before = _snapshot(out)
    from req_plugins.recipes import report

    cell, calls = report._cell, []

    def dies_half_way(value):
        calls.append(value)
        if len(calls) > 40:
            raise OSError("disk full")
        return cell(value)

    # The process dies half-way through writing results.csv: the previous file is whole.
    monkeypatch.setattr(report, "_cell", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        main(["run", str(recipe), "--out", str(out)])
    assert _snapshot(out) == before  # no partial file, no temporary file left behind
    with (out / "results.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 4


def test_req_select_probes_each_run_with_its_own_seed(tiny_run, capsys):
    recipe, out = tiny_run
    with (out / "results.csv").open() as handle:
        recorded = {
            f"runs/{r['run']}/seed{r['seed']}": float(r["linear_top1"])
            for r in csv.DictReader(handle)
        }
    scorer = CandidateScorer(find_candidates(out))
    for name in ("runs/d=16/seed1", "runs/d=32/seed1", "runs/d=16/seed0"):
        assert scorer.accuracy(name) == pytest.approx(recorded[name], abs=1e-9)
    capsys.readouterr()
    assert select_main([str(out), "--parallel", "4"]) == 0
    printed = {
        line.split()[0]: float(line.split()[2].rstrip("%")) / 100
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("runs/")
    }
    assert printed["runs/d=16/seed1"] == pytest.approx(recorded["runs/d=16/seed1"], abs=5.1e-5)
