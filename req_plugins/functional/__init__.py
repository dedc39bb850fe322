"""Functional (stateless) label-free representation metrics, in float64 on the input's device.

* :func:`eigenspectrum`, :func:`alpha_req` (α-ReQ eigenspectrum decay and its fit's R²),
  :func:`effective_rank` (RankMe), :func:`num_eigenvalues_above`,
  :func:`cumulative_explained_variance` — :mod:`req_plugins.functional.spectrum`.
* :func:`renyi_entropy`, :func:`matrix_mutual_information` (I(R;Z)) —
  :mod:`req_plugins.functional.information`.
* :func:`lidar` (LiDAR, and :func:`lidar_from_scatter`) — :mod:`req_plugins.functional.lidar`.
* :func:`uniformity` (Wang & Isola) — :mod:`req_plugins.functional.uniformity`.
* Lower-level pieces that work from streamed statistics or a precomputed spectrum:
  :func:`feature_moments`, :func:`eigenvalues_from_moments`, :func:`alpha_from_eigenvalues`,
  :func:`effective_rank_from_spectrum`.
"""

from req_plugins.functional.information import matrix_mutual_information, renyi_entropy
from req_plugins.functional.lidar import lidar, lidar_from_scatter
from req_plugins.functional.spectrum import (
    AlphaFit,
    FeatureMoments,
    alpha_from_eigenvalues,
    alpha_req,
    cumulative_explained_variance,
    effective_rank,
    effective_rank_from_spectrum,
    eigenspectrum,
    eigenvalues_from_moments,
    feature_moments,
    num_eigenvalues_above,
)
from req_plugins.functional.uniformity import uniformity

__all__ = [
    "AlphaFit",
    "FeatureMoments",
    "alpha_from_eigenvalues",
    "alpha_req",
    "cumulative_explained_variance",
    "effective_rank",
    "effective_rank_from_spectrum",
    "eigenspectrum",
    "eigenvalues_from_moments",
    "feature_moments",
    "lidar",
    "lidar_from_scatter",
    "matrix_mutual_information",
    "num_eigenvalues_above",
    "renyi_entropy",
    "uniformity",
]
