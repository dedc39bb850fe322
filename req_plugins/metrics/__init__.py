"""Streaming label-free representation metrics (``torchmetrics.Metric``s, float64, DDP-ready).

* :class:`AlphaReQ` (alias :class:`AlphaMetric`) — eigenspectrum decay α (α-ReQ),
  optionally with the fit's R².
* :class:`EffectiveRank` — effective rank / RankMe.
* :class:`MatrixMutualInformation` — I(R;Z) from order-2 matrix Rényi entropies (AdaDim).
* :class:`LiDAR` — effective rank of the LDA matrix of objects × augmentations (LiDAR).
* :class:`Uniformity` — log mean pairwise Gaussian potential on the sphere (Wang & Isola);
  it keeps its normalised inputs (optionally a capped, order-free subset of them).

Each keeps float64 states whose size does not depend on the number of samples (except
I(R;Z)'s N×N Gram estimator, which cannot stream and keeps its inputs) and calls its twin
in :mod:`req_plugins.functional` in ``compute()``. ``update`` never synchronises the host
with the device (value checks are opt-in: ``validate_args=True``).
"""

from req_plugins.metrics.alpha import AlphaMetric, AlphaReQ
from req_plugins.metrics.effective_rank import EffectiveRank
from req_plugins.metrics.lidar import LiDAR
from req_plugins.metrics.mutual_information import MatrixMutualInformation
from req_plugins.metrics.uniformity import Uniformity

__all__ = [
    "AlphaMetric",
    "AlphaReQ",
    "EffectiveRank",
    "LiDAR",
    "MatrixMutualInformation",
    "Uniformity",
]
