"""Framework-agnostic SSL losses: multi-view Barlow Twins / VICReg, NT-Xent and AdaDim.

No lightly, solo-learn or Lightning import: the integration layers wrap these modules.

No host-device synchronisation in forward or backward (``torch.compile(fullgraph=True)``
works). Mixed precision: float16 / bfloat16 embeddings (e.g. under ``torch.autocast``) are
raised to float32 and every statistic is computed in float32 with autocast off, so the loss
(float32) equals the float32 loss of the same embeddings; gradients return in the
embeddings' dtype.

Input checks: every loss checks the shapes, dtypes and devices of the views and their
number (metadata only, free). ``validate_args=True`` also rejects NaN / Inf in the
embeddings with a ``ValueError`` naming the view; that value check makes the host wait
for the device (one sync per view), hence off by default. Under ``torch.compile`` it
becomes ``torch._assert_async`` (no sync; a ``RuntimeError``, on CUDA a device-side
assert).
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
