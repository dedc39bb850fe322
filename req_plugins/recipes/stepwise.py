r"""The stepwise linear model of SSL (Simon et al., "On the stepwise nature of SSL", seed talk).

Linear Barlow Twins ``f(x) = W x`` on positive pairs ``(x_i, x'_i)``:

.. code-block:: text

    Γ = 1/(2n) Σ_i (x_i x'_iᵀ + x'_i x_iᵀ)
    C = 1/(2n) Σ_i (W x_i)(W x'_i)ᵀ + (W x'_i)(W x_i)ᵀ = W Γ Wᵀ
    L = ‖C − I‖²_F = ‖W Γ Wᵀ − I‖²_F
    dW/dt = −∇_W L = −4 (W Γ Wᵀ − I) W Γ                     (gradient flow)

From an aligned initialisation ``W(0) = U diag(s(0)) Vᵀ`` (V: top-d eigenvectors of
Γ, eigenvalues γ_j) W stays aligned and each singular value obeys
``ds_j/dt = 4 γ_j s_j (1 − γ_j s_j²)``. With ``u = s⁻²``, ``du/dt = −8 γ_j (u − γ_j)``, so

.. code-block:: text

    s_j(t) = e^{4 γ_j t} / sqrt( s_j(0)^{-2} + (e^{8 γ_j t} − 1) γ_j )
           = 1 / sqrt( γ_j + (s_j(0)^{-2} − γ_j) e^{−8 γ_j t} )        (overflow-free form)

which is the talk's Eq. (10) with time measured in units of the gradient flow of L
as written (the factor 4 = 2·2 from differentiating the squared Frobenius norm of a
product that contains W twice). Scaling L by a constant c rescales time by c
(``L/4`` would give ``e^{γ_j t}``); :func:`fit_time_constant` recovers the
constant from the integrated trajectories. Each s_j rises from s_j(0) to the
plateau ``1/sqrt(γ_j)`` around ``t_j = ln((s_j(0)^{-2} − γ_j)/γ_j) / (8 γ_j)``:
the modes are learned one at a time, in order of γ_j.

Everything is float64 torch on the CPU and takes seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from req_plugins._validation import check_choice, check_int, check_number
from req_plugins.plotting import new_figure, save_figure

INTEGRATORS = ("rk4", "euler")


def positive_pairs(
    num_pairs: int, input_dim: int, *, decay: float = 0.5, noise: float = 0.1, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Synthetic positive pairs ``x = z + ε``, ``x' = z + ε'`` sharing a latent ``z``.

    ``z`` has independent coordinates with variances ``decay^k`` (k = 0, 1, …), so
    Γ ≈ diag(decay^k) with well separated eigenvalues; ``ε, ε'`` are independent
    N(0, noise²) "augmentations".
    """
    check_int(num_pairs, "num_pairs", min_value=2)
    check_int(input_dim, "input_dim", min_value=1)
    check_number(decay, "decay", min_value=0.0, strict_min=True, max_value=1.0)
    check_number(noise, "noise", min_value=0.0)
    generator = torch.Generator().manual_seed(seed)
    scale = decay ** (torch.arange(input_dim, dtype=torch.float64) / 2)
    z = torch.randn(num_pairs, input_dim, generator=generator, dtype=torch.float64) * scale
    x = z + noise * torch.randn(num_pairs, input_dim, generator=generator, dtype=torch.float64)
    x_prime = z + noise * torch.randn(
        num_pairs, input_dim, generator=generator, dtype=torch.float64
    )
    return x, x_prime


def cross_covariance(x: Tensor, x_prime: Tensor) -> Tensor:
    """Γ = 1/(2n) Σ_i (x_i x'_iᵀ + x'_i x_iᵀ) (symmetric)."""
    return (x.T @ x_prime + x_prime.T @ x) / (2 * x.shape[0])


def linear_barlow_twins_loss(weight: Tensor, x: Tensor, x_prime: Tensor) -> Tensor:
    """``‖C − I‖²_F`` with C the symmetrised correlation of the embeddings ``W x``, ``W x'``."""
    f, f_prime = x @ weight.T, x_prime @ weight.T
    correlation = (f.T @ f_prime + f_prime.T @ f) / (2 * x.shape[0])
    eye = torch.eye(weight.shape[0], dtype=weight.dtype)
    return ((correlation - eye) ** 2).sum()


def gamma_loss(weight: Tensor, gamma: Tensor) -> Tensor:
    """The same loss written with Γ: ``‖W Γ Wᵀ − I‖²_F``."""
    eye = torch.eye(weight.shape[0], dtype=weight.dtype)
    return ((weight @ gamma @ weight.T - eye) ** 2).sum()


def closed_form(t: Tensor, gammas: Tensor, s0: Tensor, *, time_constant: float = 4.0) -> Tensor:
    """``s_j(t)`` of the talk's Eq. (10), shape ``(len(t), d)``; ``time_constant`` = 4 for L."""
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)
    decay = torch.exp(-2 * time_constant * gammas * t)
    return 1.0 / torch.sqrt(gammas + (s0**-2 - gammas) * decay)


def rise_times(gammas: Tensor, s0: Tensor) -> Tensor:
    """Time at which ``s_j² `` reaches half its plateau ``1/(2γ_j)``."""
    return torch.log((s0**-2 - gammas) / gammas) / (8 * gammas)


def integrate(
    weight: Tensor,
    gamma: Tensor,
    *,
    t_max: float,
    step: float,
    integrator: str = "rk4",
    record_every: int = 1,
) -> tuple[Tensor, Tensor]:
    """Integrate ``dW/dt = −∇L(W)`` (gradient from autograd) from ``weight`` to ``t_max``.

    ``integrator="euler"`` is plain gradient descent with learning rate ``step``
    (time ``t = k·step``); ``"rk4"`` is the classical Runge–Kutta scheme. Returns
    the recorded times and weights ``(T,)``, ``(T, d, p)``.
    """
    check_choice(integrator, "integrator", INTEGRATORS)
    check_number(step, "step", min_value=0.0, strict_min=True)
    check_number(t_max, "t_max", min_value=0.0, strict_min=True)

    def velocity(w: Tensor) -> Tensor:
        w = w.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(gamma_loss(w, gamma), w)
        return -grad

    steps = math.ceil(t_max / step)
    times, weights = [0.0], [weight.clone()]
    w = weight.clone()
    for k in range(1, steps + 1):
        if integrator == "euler":
            w = w + step * velocity(w)
        else:
            k1 = velocity(w)
            k2 = velocity(w + step / 2 * k1)
            k3 = velocity(w + step / 2 * k2)
            k4 = velocity(w + step * k3)
            w = w + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if k % record_every == 0 or k == steps:
            times.append(k * step)
            weights.append(w.clone())
    return torch.tensor(times, dtype=torch.float64), torch.stack(weights)


def measured_rise_times(times: Tensor, trajectories: Tensor, plateaus: Tensor) -> Tensor:
    """First time each trajectory reaches ``plateau/√2`` (linear interpolation; NaN if never)."""
    out = []
    for j in range(trajectories.shape[1]):
        target = plateaus[j] / math.sqrt(2)
        above = torch.nonzero(trajectories[:, j] >= target)
        if len(above) == 0 or above[0, 0] == 0:
            out.append(float("nan"))
            continue
        i = int(above[0, 0])
        a, b = trajectories[i - 1, j], trajectories[i, j]
        out.append(float(times[i - 1] + (target - a) / (b - a) * (times[i] - times[i - 1])))
    return torch.tensor(out, dtype=torch.float64)


def fit_time_constant(
    times: Tensor, trajectories: Tensor, gammas: Tensor, s0: Tensor, bounds=(0.5, 32.0)
) -> float:
    """The constant c in ``e^{2cγt}`` that best fits the trajectories (golden-section search
    on the log of c, minimising the maximum relative error)."""

    def error(log_c: float) -> float:
        predicted = closed_form(times, gammas, s0, time_constant=math.exp(log_c))
        return float(((trajectories - predicted).abs() / predicted).max())

    low, high = math.log(bounds[0]), math.log(bounds[1])
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if error(a) < error(b):
            high = b
        else:
            low = a
    return math.exp((low + high) / 2)


@dataclass
class StepwiseRun:
    """One integrated trajectory and its comparison with the closed form."""

    init: str
    times: Tensor  # (T,)
    measured: Tensor  # (T, d): ‖W(t) v_j‖, the singular value on eigen-direction j
    predicted: Tensor  # (T, d): closed form from s_j(0) = ‖W(0) v_j‖
    s0: Tensor
    singular_values: Tensor  # (T, d) of W(t), descending

    @property
    def relative_error(self) -> Tensor:
        return (self.measured - self.predicted).abs() / self.predicted

    @property
    def max_relative_error(self) -> float:
        return float(self.relative_error.max())


@dataclass
class StepwiseResult:
    gammas: Tensor
    aligned: StepwiseRun
    small_init: StepwiseRun
    time_constant: float
    loss_forms_agree: float  # max |L_data − L_Γ| / L at random weights


def run_stepwise(
    *,
    num_pairs: int = 2000,
    input_dim: int = 8,
    output_dim: int = 4,
    decay: float = 0.5,
    noise: float = 0.1,
    init_scale: float = 1e-3,
    step: float = 0.01,
    integrator: str = "rk4",
    record_every: int = 5,
    seed: int = 0,
) -> StepwiseResult:
    """Integrate linear Barlow Twins from an aligned and from a small random initialisation."""
    check_int(output_dim, "output_dim", min_value=1)
    if output_dim > input_dim:
        raise ValueError(f"`output_dim` ({output_dim}) must be <= `input_dim` ({input_dim}).")
    check_number(init_scale, "init_scale", min_value=0.0, strict_min=True)
    x, x_prime = positive_pairs(num_pairs, input_dim, decay=decay, noise=noise, seed=seed)
    gamma = cross_covariance(x, x_prime)
    eigenvalues, eigenvectors = torch.linalg.eigh(gamma)
    gammas = eigenvalues.flip(0)[:output_dim]
    directions = eigenvectors.flip(1)[:, :output_dim]
    if bool((gammas <= 0).any()):
        raise ValueError(
            f"the top {output_dim} eigenvalues of Γ must be positive, got {gammas.tolist()}; "
            "lower `noise` or `output_dim`."
        )
    generator = torch.Generator().manual_seed(seed + 1)
    probe = torch.randn(output_dim, input_dim, generator=generator, dtype=torch.float64)
    l_data, l_gamma = linear_barlow_twins_loss(probe, x, x_prime), gamma_loss(probe, gamma)
    loss_forms_agree = float((l_data - l_gamma).abs() / l_gamma)

    s0 = torch.full((output_dim,), init_scale, dtype=torch.float64)
    rotation, _ = torch.linalg.qr(
        torch.randn(output_dim, output_dim, generator=generator, dtype=torch.float64)
    )
    aligned_init = rotation @ torch.diag(s0) @ directions.T
    random_init = (
        init_scale
        * torch.randn(output_dim, input_dim, generator=generator, dtype=torch.float64)
        / math.sqrt(input_dim)
    )
    # Long enough for the slowest mode to settle on its plateau.
    slowest = rise_times(gammas, (random_init @ directions).norm(dim=0).clamp_max(s0))
    t_max = 1.5 * float(slowest.max()) + 2.0 / float(gammas.min())

    runs = []
    for init, weight in (("aligned", aligned_init), ("small random", random_init)):
        times, weights = integrate(
            weight, gamma, t_max=t_max, step=step, integrator=integrator, record_every=record_every
        )
        measured = (weights @ directions).norm(dim=1)
        start = measured[0]
        runs.append(
            StepwiseRun(
                init,
                times,
                measured,
                closed_form(times, gammas, start),
                start,
                torch.linalg.svdvals(weights),
            )
        )
    aligned, small_init = runs
    constant = fit_time_constant(aligned.times, aligned.measured, gammas, aligned.s0)
    return StepwiseResult(gammas, aligned, small_init, constant, loss_forms_agree)


def plot_stepwise(result: StepwiseResult, path: Path) -> Path:
    """Closed form against the integrated flow per init, and the relative error over time."""
    fig = new_figure(figsize=(15, 4.2))
    axes = fig.subplots(1, 3)
    for ax, run in zip(axes[:2], (result.aligned, result.small_init), strict=True):
        every = max(1, len(run.times) // 60)
        for j in range(run.measured.shape[1]):
            color = f"C{j}"
            ax.plot(
                run.times,
                run.predicted[:, j],
                color=color,
                label=f"closed form, γ={float(result.gammas[j]):.3f}",
            )
            ax.plot(
                run.times[::every],
                run.measured[::every, j],
                "o",
                color=color,
                markersize=3,
                label="gradient flow" if j == 0 else None,
            )
        ax.set_title(f"{run.init} init: max rel. error {run.max_relative_error:.2%}")
        ax.set_xlabel("t")
        ax.set_ylabel("s_j(t)  (‖W(t) v_j‖)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    for run in (result.aligned, result.small_init):
        axes[2].semilogy(
            run.times, run.relative_error.max(dim=1).values.clamp_min(1e-16), label=run.init
        )
    axes[2].axhline(0.05, color="k", linestyle=":", label="5%")
    axes[2].set_xlabel("t")
    axes[2].set_ylabel("max_j relative error")
    axes[2].legend(fontsize=7)
    axes[2].grid(alpha=0.3)
    return save_figure(fig, path)


def stepwise_analysis(recipe, scale, result: StepwiseResult):
    """Paper (closed form, Eq. 10) vs ours (integrated gradient flow) per mode."""
    from req_plugins.recipes.analyses.types import Analysis, Table

    rows, data = [], []
    for run in (result.aligned, result.small_init):
        plateau = 1 / result.gammas.sqrt()
        predicted_rise = rise_times(result.gammas, run.s0)
        measured_rise = measured_rise_times(run.times, run.measured, plateau)
        for j in range(len(result.gammas)):
            error = float(run.relative_error[:, j].max())
            rows.append(
                [
                    run.init,
                    str(j + 1),
                    f"{float(result.gammas[j]):.4f}",
                    f"{float(plateau[j]):.4f}",
                    f"{float(run.measured[-1, j]):.4f}",
                    f"{float(predicted_rise[j]):.3f}",
                    f"{float(measured_rise[j]):.3f}",
                    f"{error:.2e}",
                ]
            )
            data.append(
                {
                    "init": run.init,
                    "mode": j + 1,
                    "gamma": float(result.gammas[j]),
                    "paper_plateau": float(plateau[j]),
                    "ours_plateau": float(run.measured[-1, j]),
                    "paper_rise_time": float(predicted_rise[j]),
                    "ours_rise_time": float(measured_rise[j]),
                    "max_relative_error": error,
                }
            )
    table = Table(
        "Singular values s_j(t): closed form (talk, Eq. 10) vs integrated gradient flow",
        [
            "init",
            "mode j",
            "γ_j",
            "paper: plateau 1/√γ_j",
            "ours: s_j(t_max)",
            "paper: rise time t_j",
            "ours: rise time",
            "max relative error over t",
        ],
        rows,
        data,
    )
    findings = [
        f"Aligned init: maximum relative error of s_j(t) over all modes and times = "
        f"{result.aligned.max_relative_error:.2e} (requirement ≤ 5%).",
        f"Time constant fitted to the aligned trajectories: {result.time_constant:.4f} "
        "(derived: 4 for L = ‖WΓWᵀ − I‖²_F under dW/dt = −∇L).",
        f"Small random init (scale {scale.params.get('init_scale', 1e-3)}): the modes are still "
        "learned one at a time in order of γ_j, but s_j(t) = ‖W(t)v_j‖ deviates from the aligned "
        f"closed form by up to {result.small_init.max_relative_error:.1%} around the rise "
        "(the non-aligned part of W(0) shifts each rise); the talk's claim is qualitative here.",
        f"The data form of the loss and the Γ form agree to {result.loss_forms_agree:.1e} "
        "(relative) at random weights.",
    ]
    return Analysis([table], findings, {"stepwise.png": lambda path: plot_stepwise(result, path)})
