"""Framework-agnostic SSL losses: multi-view Barlow Twins / VICReg, NT-Xent and AdaDim.

No lightly, solo-learn or Lightning import: the integration layers wrap these modules.
"""

from req_plugins.losses.adadim import AdaDimController, AdaDimLoss
from req_plugins.losses.barlow_twins import MultiViewBarlowTwinsLoss
from req_plugins.losses.ntxent import NTXentLoss
from req_plugins.losses.vicreg import MultiViewVICRegLoss

__all__ = [
    "AdaDimController",
    "AdaDimLoss",
    "MultiViewBarlowTwinsLoss",
    "MultiViewVICRegLoss",
    "NTXentLoss",
]
