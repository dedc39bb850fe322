"""Lightning callbacks that track label-free representation metrics during training.

They work with both ``lightning.pytorch`` (solo-learn) and ``pytorch_lightning``
(lightly) Trainers.

* :class:`RepresentationMetrics` — α, effective rank and I(R;Z) of backbone
  features and embeddings on a held-out loader every N epochs.
* :class:`OnlineRepresentationMetrics` — the same metrics of the embeddings the training
  step already computes, per epoch, without an extra pass or a host sync per step.
* :class:`SpectrumTracker` — top eigenvalues of the embedding covariance every N steps.
* :mod:`req_plugins.callbacks.plots` — PNG figures of both.
"""

from req_plugins.callbacks._base import DualCallback, default_embed
from req_plugins.callbacks.online import OnlineRepresentationMetrics
from req_plugins.callbacks.plots import (
    plot_eigenspectrum,
    plot_eigenvalue_trajectories,
    plot_metric_trajectories,
)
from req_plugins.callbacks.representation import RepresentationMetrics
from req_plugins.callbacks.spectrum import SpectrumTracker

__all__ = [
    "DualCallback",
    "OnlineRepresentationMetrics",
    "RepresentationMetrics",
    "SpectrumTracker",
    "default_embed",
    "plot_eigenspectrum",
    "plot_eigenvalue_trajectories",
    "plot_metric_trajectories",
]
