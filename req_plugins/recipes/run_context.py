"""Quiet Lightning, the process setting a recipe's runs train under (threads: req_plugins.modes)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_lightning(verbose: bool = False) -> Iterator[None]:
    """Silence Lightning's per-run banners and warnings unless ``verbose``."""
    if verbose:
        yield
        return
    loggers = [
        logging.getLogger(name) for name in ("pytorch_lightning", "lightning", "lightning.pytorch")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
