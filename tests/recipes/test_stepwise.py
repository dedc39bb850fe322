"""The stepwise linear Barlow Twins model follows the talk's closed form (Eq. 10)."""

from __future__ import annotations

import math

import pytest
import torch

from req_plugins.recipes.cli import main
from req_plugins.recipes.stepwise import (
    closed_form,
    cross_covariance,
    gamma_loss,
    integrate,
    linear_barlow_twins_loss,
    positive_pairs,
    rise_times,
    run_stepwise,
)


@pytest.fixture(scope="module")
def result():
    return run_stepwise(num_pairs=1000, input_dim=6, output_dim=3, step=0.01, record_every=5)


def test_aligned_trajectories_match_the_closed_form_within_5_percent(result):
    assert result.aligned.max_relative_error <= 0.05
    # RK4 with step 0.01 is far more accurate than the requirement.
    assert result.aligned.max_relative_error < 1e-5
    # Each mode rose from s(0) and settled on its plateau 1/sqrt(γ_j).
    plateau = 1 / result.gammas.sqrt()
    torch.testing.assert_close(result.aligned.measured[-1], plateau, rtol=1e-4, atol=0)
    assert bool((result.aligned.measured[0] < 1e-2).all())


def test_modes_are_learned_one_at_a_time_in_order_of_gamma(result):
    # Rise times (half of the plateau's square) are ordered like the eigenvalues, for the
    # aligned and the small random initialisation alike.
    for run in (result.aligned, result.small_init):
        plateau = 1 / result.gammas.sqrt()
        crossed = run.measured >= plateau / math.sqrt(2)
        first = [int(torch.nonzero(crossed[:, j])[0, 0]) for j in range(crossed.shape[1])]
        assert first == sorted(first) and len(set(first)) == len(first)


def test_fitted_time_constant_is_four_for_the_loss_as_written(result):
    assert result.time_constant == pytest.approx(4.0, rel=1e-3)


def test_closed_form_equals_the_talks_written_form():
    gammas = torch.tensor([0.9, 0.3], dtype=torch.float64)
    s0 = torch.tensor([1e-2, 3e-2], dtype=torch.float64)
    t = torch.linspace(0, 3, 7, dtype=torch.float64)
    talk = torch.exp(4 * gammas * t[:, None]) / torch.sqrt(
        s0**-2 + (torch.exp(8 * gammas * t[:, None]) - 1) * gammas
    )
    torch.testing.assert_close(closed_form(t, gammas, s0), talk)
    # s_j² reaches half its plateau exactly at the rise time.
    half = closed_form(rise_times(gammas, s0), gammas, s0).diagonal()
    torch.testing.assert_close(half**2, 1 / (2 * gammas))


def test_loss_from_positive_pairs_equals_the_gamma_form_with_the_same_gradient():
    x, x_prime = positive_pairs(300, 5, seed=3)
    gamma = cross_covariance(x, x_prime)
    torch.testing.assert_close(gamma, gamma.T)
    weight = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    (grad_data,) = torch.autograd.grad(linear_barlow_twins_loss(weight, x, x_prime), weight)
    (grad_gamma,) = torch.autograd.grad(gamma_loss(weight, gamma), weight)
    torch.testing.assert_close(grad_data, grad_gamma)
    # dW/dt = -4 (W Γ Wᵀ − I) W Γ, the talk's gradient-flow equation.
    with torch.no_grad():
        expected = (
            4 * (weight @ gamma @ weight.T - torch.eye(3, dtype=torch.float64)) @ weight @ gamma
        )
    torch.testing.assert_close(grad_gamma, expected)


def test_plain_gradient_descent_with_a_small_step_follows_the_closed_form():
    x, x_prime = positive_pairs(500, 4, seed=1)
    gamma = cross_covariance(x, x_prime)
    eigenvalues, eigenvectors = torch.linalg.eigh(gamma)
    gammas, directions = eigenvalues.flip(0)[:2], eigenvectors.flip(1)[:, :2]
    s0 = torch.full((2,), 1e-2, dtype=torch.float64)
    times, weights = integrate(
        torch.diag(s0) @ directions.T,
        gamma,
        t_max=12.0,
        step=1e-3,
        integrator="euler",
        record_every=50,
    )
    measured = (weights @ directions).norm(dim=1)
    error = (measured - closed_form(times, gammas, s0)).abs() / closed_form(times, gammas, s0)
    assert float(error.max()) <= 0.05


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="output_dim"):
        run_stepwise(input_dim=3, output_dim=4)
    with pytest.raises(ValueError, match="integrator"):
        integrate(
            torch.zeros(1, 1, dtype=torch.float64),
            torch.eye(1, dtype=torch.float64),
            t_max=1.0,
            step=0.1,
            integrator="leapfrog",
        )
    with pytest.raises(ValueError, match="positive"):
        run_stepwise(input_dim=6, output_dim=6, noise=3.0, num_pairs=50)


def test_stepwise_recipe_writes_report_and_plot(tmp_path, capsys):
    assert main(["run", "stepwise_ssl", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Aligned init: maximum relative error" in out
    error = float(out.split("over all modes and times = ")[1].split()[0])
    assert error <= 0.05
    report = (tmp_path / "report.md").read_text()
    assert "| aligned | 1 |" in report and "![stepwise](plots/stepwise.png)" in report
    assert (tmp_path / "plots" / "stepwise.png").stat().st_size > 10_000
    assert (tmp_path / "results.csv").read_text().count("\n") == 1 + 2 * 4  # 2 inits × 4 modes
