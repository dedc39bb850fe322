"""Zero-code metrics in any Lightning Trainer, opted into with an environment variable.

Lightning asks the functions registered under the entry-point groups
``lightning.pytorch.callbacks_factory`` and ``pytorch_lightning.callbacks_factory`` for
extra callbacks whenever a ``Trainer`` is created. req-plugins registers
:func:`metrics_callbacks` in both, so with::

    REQ_PLUGINS_METRICS=alpha,effective_rank python main_pretrain.py ...

every Trainer of the script (solo-learn's ``main_pretrain.py``, a lightly script,
``req-train``) gets an :class:`~req_plugins.callbacks.OnlineRepresentationMetrics`
that logs ``repr_train/{backbone,embedding}_{alpha,effective_rank}`` once per epoch
from the embeddings the training step computes anyway. Unset or empty, nothing is
added and nothing beyond this module is imported.
"""

from __future__ import annotations

import os

ENV_VAR = "REQ_PLUGINS_METRICS"


def metrics_callbacks() -> list:
    """The callbacks :data:`ENV_VAR` asks for: ``[]``, or one ``OnlineRepresentationMetrics``.

    The variable holds comma-separated metric names from the registry
    (``alpha``, ``effective_rank``, ``mutual_information``, …).
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return []
    names = [name.strip() for name in value.split(",") if name.strip()]
    from req_plugins.callbacks import OnlineRepresentationMetrics

    try:
        return [OnlineRepresentationMetrics(metrics=names)]
    except ValueError as error:
        raise ValueError(f"environment variable {ENV_VAR}={value!r}: {error}") from error
