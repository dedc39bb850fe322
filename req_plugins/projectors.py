"""Projection heads and the β ∝ 1/d rule for low-dimensional projectors.

The thesis (Part III, §3.3 and Table 5) shows that a low-dimensional projector
matches a wide one when the orthogonality (redundancy-reduction / covariance)
weight grows as the dimension shrinks, ``β* ∝ 1/d``. :func:`beta_for_dim`
implements that rule from a reference point tuned at ``d_ref``:

* Barlow Twins: ``β = 4e-4`` at ``d = 8192`` (:data:`BARLOW_TWINS_BETA_REF`);
* VICReg: the ratio ``ν/λ`` (covariance over invariance weight) is ``1.3e-3`` at
  ``d = 8192`` (:data:`VICREG_NU_RATIO_REF`).

The thesis gives no rule for β across the number of views ``m``; with one β for all
``m`` the multi-view loss (thesis Eq. 10) weighs redundancy reduction more at
``m = 4, 8``, because the invariance term against the mean view shrinks with ``m``.
:func:`beta_for_views` offers the authors' released rule (fastssl multi-patch configs:
half the 2-view β for ``m ≥ 4``).

Example:
    >>> import torch
    >>> from req_plugins.projectors import ProjectionMLP, beta_for_dim
    >>> beta_for_dim(256)  # 4e-4 * 8192 / 256
    0.0128
    >>> head = ProjectionMLP(2048, 256, 256)
    >>> tuple(head(torch.randn(8, 2048)).shape)
    (8, 256)
"""

from __future__ import annotations

from torch import Tensor, nn

from req_plugins._validation import check_choice, check_int, check_number

__all__ = [
    "BARLOW_TWINS_BETA_REF",
    "D_REF",
    "VICREG_NU_RATIO_REF",
    "BETA_VIEWS_RULES",
    "ProjectionMLP",
    "beta_for_dim",
    "beta_for_views",
]

#: Projector dimension at which the thesis's fixed weights were tuned.
D_REF = 8192
#: Barlow Twins redundancy-reduction weight β tuned for ``d = 8192`` (thesis Table 5).
BARLOW_TWINS_BETA_REF = 4e-4
#: VICReg ratio ν/λ tuned for ``d = 8192`` (thesis Table 5, Fig. 8).
VICREG_NU_RATIO_REF = 1.3e-3


def beta_for_dim(d: int, d_ref: int = D_REF, beta_ref: float = BARLOW_TWINS_BETA_REF) -> float:
    """Orthogonality weight for a projector of dimension ``d``: ``β = beta_ref · d_ref / d``.

    Args:
        d: projector output dimension (≥ 2).
        d_ref: dimension at which ``beta_ref`` was tuned.
        beta_ref: the weight that works at ``d_ref``.

    Example:
        >>> beta_for_dim(64), beta_for_dim(8192)
        (0.0512, 0.0004)
        >>> beta_for_dim(2048, beta_ref=1.3e-3)  # VICReg ratio ν/λ at d = 2048
        0.0052
    """
    check_int(d, "d", min_value=2)
    check_int(d_ref, "d_ref", min_value=1)
    check_number(beta_ref, "beta_ref", min_value=0.0)
    return float(beta_ref) * (d_ref / d)


#: Rules for β across the number of views: ``"none"`` (one β for every ``m``, as the
#: thesis states its setting) or ``"fastssl"`` (the authors' released configs).
BETA_VIEWS_RULES = ("none", "fastssl")


def beta_for_views(beta: float, num_views: int, rule: str = "none") -> float:
    """Redundancy-reduction weight for ``m = num_views`` views from the 2-view ``beta``.

    * ``"none"``: ``β`` for every ``m``.
    * ``"fastssl"``: ``β / 2`` for ``m ≥ 4`` (``β`` at ``m = 2, 3``), the rule of the
      authors' released multi-patch configs (github.com/kumarkrishna/fastssl; CIFAR-10,
      batch 128: β = 0.02 → 0.01 at d = 256 and 0.0008 → 0.0004 at d = 8192). Those
      configs only run ``m ∈ {2, 4, 8}``; ``m = 3`` keeps the 2-view β.

    Example:
        >>> beta_for_views(0.02, 4, "fastssl"), beta_for_views(0.0008, 8, "fastssl")
        (0.01, 0.0004)
        >>> beta_for_views(0.02, 8), beta_for_views(0.02, 2, "fastssl")
        (0.02, 0.02)
    """
    check_number(beta, "beta", min_value=0.0)
    check_int(num_views, "num_views", min_value=2)
    check_choice(rule, "beta_views_rule", BETA_VIEWS_RULES)
    if rule == "fastssl" and num_views >= 4:
        return float(beta) / 2
    return float(beta)


class ProjectionMLP(nn.Module):
    """MLP projection head: ``(Linear → BatchNorm → ReLU) × (num_layers − 1) → Linear``.

    With ``num_layers=3`` this is the Barlow Twins / VICReg projector
    (``Linear→BN→ReLU→Linear→BN→ReLU→Linear``; Zbontar et al. 2021, Bardes et al. 2022).
    The linear layers followed by BatchNorm have no bias (BN's shift makes it redundant, as in
    lightly's heads); the last layer has one. ``num_layers=2`` with
    ``hidden_dim=output_dim=d`` is the projector whose parameter counts the
    thesis reports in Table 5 (``d=64`` → 135k, ``d=8192`` → 83.9M).

    Args:
        input_dim: backbone feature dimension.
        hidden_dim: width of the hidden layers.
        output_dim: projector dimension ``d`` (≥ 2).
        num_layers: number of linear layers (≥ 1).

    Example:
        >>> import torch
        >>> head = ProjectionMLP(2048, 64, 64, num_layers=2)
        >>> sum(p.numel() for p in head.parameters())  # thesis Table 5: 135k
        135360
        >>> tuple(head(torch.randn(4, 2048)).shape)
        (4, 64)
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int = 3):
        super().__init__()
        check_int(input_dim, "input_dim", min_value=1)
        check_int(hidden_dim, "hidden_dim", min_value=1)
        check_int(output_dim, "output_dim", min_value=2)
        check_int(num_layers, "num_layers", min_value=1)
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        self.num_layers = num_layers

        layers: list[nn.Module] = []
        width = input_dim
        for _ in range(num_layers - 1):
            layers += [
                nn.Linear(width, hidden_dim, bias=False),
                nn.BatchNorm1d(hidden_dim),
                nn.ReLU(inplace=True),
            ]
            width = hidden_dim
        layers.append(nn.Linear(width, output_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Project backbone features ``x`` of shape ``(N, input_dim)`` to ``(N, output_dim)``."""
        return self.layers(x)
