"""Shared by the loss tests: correlated views; the loss table of the autocast and compile tests."""

import torch

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


def correlated_views(m, n=8, d=5, dtype=torch.float64, seed=0):
    """``m`` views ``(n, d)`` of one batch (correlated, as augmentations are), with gradients."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=generator, dtype=dtype)
    return [
        (base + 0.5 * torch.randn(n, d, generator=generator, dtype=dtype)).requires_grad_()
        for _ in range(m)
    ]


def value_and_grads(loss_fn, views):
    """The loss of the list ``views`` (detached) and its gradients with respect to them."""
    loss = loss_fn(views)
    return loss.detach(), torch.autograd.grad(loss, views)
