"""The package's plots leave the user's matplotlib backend alone and write files atomically."""

from __future__ import annotations

import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")

from req_plugins.callbacks import (  # noqa: E402
    plot_eigenspectrum,
    plot_eigenvalue_trajectories,
    plot_metric_trajectories,
)
from req_plugins.plotting import new_figure, save_figure  # noqa: E402
from req_plugins.recipes.analyses import analyse  # noqa: E402
from req_plugins.recipes.recipe import load_recipe  # noqa: E402
from req_plugins.recipes.runner import RunRecord  # noqa: E402
from req_plugins.recipes.stepwise import plot_stepwise, run_stepwise  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def svg_backend():
    """A notebook-like session whose backend is not Agg; restored afterwards."""
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    yield
    matplotlib.use(before)


def _draws():
    spectrum = torch.arange(64, 0, -1, dtype=torch.float64) ** -1.2
    history = [{"epoch": e, "step": 10 * e, "alpha": 1.0 + e, "rankme": 3.0 - e} for e in range(3)]
    eigenvalues = [{"step": s, "eigenvalues": [3.0 - s / 10, 1.0, 0.5]} for s in range(3)]
    timing = RunRecord(
        run_id="run",
        labels={},
        values={},
        seed=0,
        results={},
        curve=[],
        extra={"alpha_time_s": [0.1, 0.3], "probe_time_s": [4.0, 5.0]},
        run_dir="/run",
    )
    recipe = load_recipe("alpha_req_table1")
    analysis = analyse(recipe, recipe.scale("full"), [timing])
    return {
        "eigenspectrum": lambda path: plot_eigenspectrum({"x": spectrum}, path, fit_range=(2, 40)),
        "metrics": lambda path: plot_metric_trajectories(history, path),
        "eigenvalues": lambda path: plot_eigenvalue_trajectories(eigenvalues, path),
        "alpha_timing": analysis.plots["timing.png"],
        "stepwise": lambda path: plot_stepwise(
            run_stepwise(num_pairs=200, input_dim=4, output_dim=2, step=0.05), path
        ),
    }


@pytest.mark.parametrize("name", sorted(_draws()))
def test_plots_keep_the_users_backend(name, svg_backend, tmp_path):
    path = tmp_path / f"{name}.png"
    _draws()[name](path)
    assert matplotlib.get_backend() == "svg"
    assert path.read_bytes().startswith(PNG)


def test_save_figure_replaces_the_file_only_when_the_drawing_succeeds(tmp_path):
    path = tmp_path / "plot.png"
    figure = new_figure()
    figure.subplots().plot([0, 1], [1, 0])
    assert save_figure(figure, path) == path and path.read_bytes().startswith(PNG)
    before = path.read_bytes()

    broken = new_figure()
    broken.subplots().text(0, 0, r"$\unknowncommand$")  # mathtext fails while saving
    with pytest.raises(ValueError):
        save_figure(broken, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]  # no temporary file left
