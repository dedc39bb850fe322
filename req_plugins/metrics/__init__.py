"""Streaming label-free representation metrics (``torchmetrics.Metric``s, float64, DDP-ready).

* :class:`AlphaReQ` — eigenspectrum decay α (α-ReQ), optionally with the fit's R².
* :class:`EffectiveRank` — effective rank / RankMe.
* :class:`MatrixMutualInformation` — I(R;Z) from order-2 matrix Rényi entropies (AdaDim).

Each keeps sum-reduced float64 states whose size does not depend on the number of samples
and calls its twin in :mod:`req_plugins.functional` in ``compute()``.
"""

from req_plugins.metrics.alpha import AlphaReQ
from req_plugins.metrics.effective_rank import EffectiveRank
from req_plugins.metrics.mutual_information import MatrixMutualInformation

__all__ = ["AlphaReQ", "EffectiveRank", "MatrixMutualInformation"]
