"""req_plugins: label-free representation metrics and multi-view SSL methods.

The core (metrics, functional metrics, losses, projectors) depends on torch and
torchmetrics only; the integrations live in :mod:`req_plugins.lightly` and
:mod:`req_plugins.solo` and are imported on demand.
"""

from req_plugins.functional import (
    AlphaFit,
    alpha_req,
    cumulative_explained_variance,
    effective_rank,
    eigenspectrum,
    lidar,
    matrix_mutual_information,
    num_eigenvalues_above,
    renyi_entropy,
    uniformity,
)
from req_plugins.losses import (
    AdaDimController,
    AdaDimLoss,
    MultiViewBarlowTwinsLoss,
    MultiViewVICRegLoss,
    NTXentLoss,
)
from req_plugins.metrics import (
    AlphaMetric,
    AlphaReQ,
    EffectiveRank,
    LiDAR,
    MatrixMutualInformation,
    Uniformity,
)
from req_plugins.projectors import ProjectionMLP, beta_for_dim

__version__ = "0.1.0"

__all__ = [
    "AdaDimController",
    "AdaDimLoss",
    "AlphaFit",
    "AlphaMetric",
    "AlphaReQ",
    "EffectiveRank",
    "LiDAR",
    "MatrixMutualInformation",
    "MultiViewBarlowTwinsLoss",
    "MultiViewVICRegLoss",
    "NTXentLoss",
    "ProjectionMLP",
    "Uniformity",
    "alpha_req",
    "beta_for_dim",
    "cumulative_explained_variance",
    "effective_rank",
    "eigenspectrum",
    "lidar",
    "matrix_mutual_information",
    "num_eigenvalues_above",
    "renyi_entropy",
    "uniformity",
]
