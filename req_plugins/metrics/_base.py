"""What every req_plugins metric shares: torchmetrics' ``validate_args`` convention, ``plot``.

A new metric subclasses :class:`RepresentationMetric`, reads its inputs through
:meth:`~RepresentationMetric._features` in ``update`` and calls
:meth:`~RepresentationMetric._check_finite_states` at the start of ``compute``.
"""

import torch
import torchmetrics
from torch import Tensor
from torchmetrics import Metric

from req_plugins._validation import check_finite, features_shape_checked


class RepresentationMetric(Metric):
    """A ``torchmetrics.Metric`` whose ``update`` never synchronises host and device.

    ``update`` always checks shapes and dtypes (free). Value checks follow torchmetrics'
    ``validate_args`` convention, here opt-in because they cost a host-device sync per
    ``update``: with ``validate_args=True`` a NaN or Inf in a batch raises ``ValueError``
    naming the argument at that ``update``; with the default ``False`` nothing is checked
    per batch, and ``compute()`` (which synchronises anyway) raises if a non-finite value
    reached the states, so a bad batch never turns into a silent number.

    Args:
        validate_args: check the values of every batch in ``update`` (one host sync each).
        kwargs: passed to ``torchmetrics.Metric`` (e.g. ``sync_on_compute``).
    """

    def __init__(self, validate_args: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(validate_args, bool):
            raise ValueError(f"`validate_args` must be a bool, got {validate_args!r}.")
        self.validate_args = validate_args

    def _features(self, value: object, name: str) -> Tensor:
        """``value`` as ``(N, D)`` (N ≥ 1); values checked only with ``validate_args``."""
        features = features_shape_checked(value, name, min_samples=1)
        if self.validate_args:
            check_finite(features, name)
        return features

    def _check_finite_states(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            values = value if isinstance(value, list) else [value]
            if not all(bool(torch.isfinite(v).all()) for v in values):
                raise ValueError(
                    f"{type(self).__name__}: NaN or Inf reached the state `{name}`, so some "
                    "`update` got non-finite input. Create the metric with "
                    "`validate_args=True` to have `update` name the argument of the bad batch "
                    "(one host-device sync per update)."
                )

    def _plot_value(self, value: object) -> object:
        """The value(s) ``plot`` draws (override when ``compute`` returns more than a tensor)."""
        return value

    def plot(self, val=None, ax=None):
        """Plot a value of the metric, or a sequence of values (torchmetrics' plotting API).

        Args:
            val: the result of ``compute()``/``forward``, or a list of such results (drawn as a
                curve). Default: ``compute()``.
            ax: a matplotlib axis to draw on (default: a new figure).

        Returns:
            ``(figure, axis)``. Needs torchmetrics >= 1.0 and matplotlib.
        """
        if not hasattr(Metric, "_plot"):
            raise RuntimeError(
                f"`{type(self).__name__}.plot()` needs torchmetrics >= 1.0 (installed: "
                f"{torchmetrics.__version__}); the metric itself works with 0.11."
            )
        value = self.compute() if val is None else val
        if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
            value = [self._plot_value(v) for v in value]
        else:
            value = self._plot_value(value)
        return self._plot(value, ax)
