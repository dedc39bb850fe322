"""Make the registry's solo-learn methods selectable by name in solo-learn's ``main_pretrain.py``.

solo-learn looks methods up in the plain dict ``solo.methods.METHODS``. This
module is imported at interpreter start-up by ``req_plugins_solo_autoload.pth``
(installed next to it in site-packages) and only puts a tiny finder on
``sys.meta_path``: when a process later imports ``solo.methods``, the finder
lets the import run unchanged and then adds every method registered for the
``"solo"`` framework (``req_plugins``' own and third-party plugins') to
``METHODS``. Processes that never import solo-learn pay one stdlib import; no
torch, solo-learn or ``req_plugins`` module is loaded before ``solo.methods`` is.

Set ``REQ_PLUGINS_NO_SOLO_AUTOLOAD=1`` to turn it off. Only the standard library
may be imported here (start-up cost of every Python process).
"""

import os
import sys

DISABLE_ENV = "REQ_PLUGINS_NO_SOLO_AUTOLOAD"
TARGET_MODULE = "solo.methods"


class SoloMethodsFinder:
    """Meta-path finder that hooks the end of ``solo.methods``' execution.

    It never loads anything itself: it asks the finders behind it for the real
    spec and wraps that loader's ``exec_module``.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET_MODULE:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec

        def exec_then_register(module):
            exec_module(module)
            _register_into(module)

        # Set on this module's own loader instance, so its class (and isinstance checks)
        # stay what the import system chose.
        loader.exec_module = exec_then_register
        return spec


def _register_into(methods_module):
    # solo-learn must import even if a plugin is broken: report and go on.
    try:
        from req_plugins.solo.registration import add_plugin_methods

        add_plugin_methods(methods_module.METHODS)
    except Exception as error:  # noqa: BLE001
        import warnings

        warnings.warn(
            f"req_plugins could not add its methods to solo.methods.METHODS: {error!r} "
            f"(set {DISABLE_ENV}=1 to skip this step).",
            stacklevel=2,
        )


def install():
    """Put the finder on ``sys.meta_path`` (once) unless ``REQ_PLUGINS_NO_SOLO_AUTOLOAD`` is set."""
    if os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no"):
        return
    if not any(isinstance(finder, SoloMethodsFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, SoloMethodsFinder())


install()
