"""solo-learn integration: the plugin's methods as solo-learn ``BaseMethod`` subclasses.

With req-plugins installed next to solo-learn, a solo-learn YAML selects
them by name, ``method: mv_barlow_twins`` (or ``mv_vicreg``, ``lowdim_barlow_twins``,
``lowdim_vicreg``, ``adadim``), in solo-learn's own ``main_pretrain.py``: the
start-up hook ``req_plugins_solo_autoload`` adds every method registered for the
``"solo"`` framework to ``solo.methods.METHODS`` (turn it off with
``REQ_PLUGINS_NO_SOLO_AUTOLOAD=1``; :func:`add_plugin_methods` does it by hand).
``req-solo-pretrain`` runs solo-learn's pretraining flow with more than two large
crops and the project's metric callbacks.

Importing this package without a usable solo-learn raises an ``ImportError``
saying how to install it.
"""

from req_plugins.solo.availability import MIN_SOLO_LEARN_VERSION, require_solo

require_solo()

# solo.methods first: its import runs the autoload hook, which imports the modules below.
import solo.methods  # noqa: E402, F401

from req_plugins.solo.adadim import AdaDim  # noqa: E402
from req_plugins.solo.base import MultiViewMethod  # noqa: E402
from req_plugins.solo.lowdim_barlow_twins import LowDimBarlowTwins  # noqa: E402
from req_plugins.solo.lowdim_vicreg import LowDimVICReg  # noqa: E402
from req_plugins.solo.mv_barlow_twins import MultiViewBarlowTwins  # noqa: E402
from req_plugins.solo.mv_vicreg import MultiViewVICReg  # noqa: E402
from req_plugins.solo.registration import add_plugin_methods  # noqa: E402

__all__ = [
    "AdaDim",
    "MIN_SOLO_LEARN_VERSION",
    "LowDimBarlowTwins",
    "LowDimVICReg",
    "MultiViewBarlowTwins",
    "MultiViewMethod",
    "MultiViewVICReg",
    "add_plugin_methods",
    "require_solo",
]
