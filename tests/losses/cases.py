"""The table of loss configurations that the autocast and ``torch.compile`` tests both run."""

from req_plugins.losses import (
    AdaDimLoss,
    MultiViewBarlowTwinsLoss,
    MultiViewVICRegLoss,
    NTXentLoss,
)


def call_adadim(loss, views, r):
    return loss(views[0], views[1], r=r, alpha=0.3)


def call_multiview(loss, views, r):
    return loss(views)


# name: (loss factory, number of views, call(loss, views, r))
LOSS_CASES = {
    "barlow_twins_2_views": (MultiViewBarlowTwinsLoss, 2, call_multiview),
    "barlow_twins_4_views": (MultiViewBarlowTwinsLoss, 4, call_multiview),
    "vicreg_2_views": (MultiViewVICRegLoss, 2, call_multiview),
    "vicreg_4_views": (MultiViewVICRegLoss, 4, call_multiview),
    "ntxent": (lambda: NTXentLoss(temperature=0.1), 2, call_multiview),
    # β large enough for the mutual-information term to weigh in the comparison
    "adadim": (lambda: AdaDimLoss(beta=0.5), 2, call_adadim),
}
