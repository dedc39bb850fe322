"""Self-supervised methods as LightningModules (lightly benchmark style).

They are registered through the ``req_plugins`` plugin hooks; look them up with
``req_plugins.plugins.get_registry().get_method(name, "lightning")``.
"""

from req_plugins.lightly.methods.base import OPTIMIZERS, SCHEDULERS, SSLMethod

__all__ = ["OPTIMIZERS", "SCHEDULERS", "SSLMethod"]
