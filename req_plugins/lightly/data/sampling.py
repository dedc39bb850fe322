"""Seeded sampling: every sample's augmentations depend only on ``(seed, epoch, index)``.

:class:`EpochSampler` yields ``(index, sample_seed)`` pairs and the multi-view datasets
draw a sample's views under :func:`seeded_rng` of its seed, so a run sees the same
augmented batches on one process or several, with any ``num_workers``, and after
resuming from a checkpoint.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch.utils.data import Sampler


@contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Run a block with torch, numpy and python RNGs seeded by ``seed``; restore them after."""
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    torch.random.default_generator.manual_seed(seed)
    np.random.seed(seed)  # lightly's GaussianBlur draws from numpy
    random.seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(torch_state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of sample ``index`` in ``epoch``."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class EpochSampler(Sampler):
    """Shuffled ``(index, sample_seed)`` pairs for one of ``num_replicas`` processes.

    Shards like ``DistributedSampler`` (rank ``r`` takes positions ``r, r+W, …`` of
    an epoch-seeded permutation, padded to a multiple of ``W``), so a global batch
    of ``B`` split over ``W`` processes holds the same samples as one process with
    batch ``B``. Lightning calls :meth:`set_epoch` before every epoch.
    """

    def __init__(
        self, dataset_size: int, *, seed: int, num_replicas: int = 1, rank: int = 0
    ) -> None:
        self.dataset_size = dataset_size
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.dataset_size / self.num_replicas)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.dataset_size, generator=generator).tolist()
        order += order[: len(self) * self.num_replicas - len(order)]
        for index in order[self.rank :: self.num_replicas]:
            yield index, sample_seed(self.seed, self.epoch, index)
