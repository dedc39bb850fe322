"""req_plugins: label-free representation metrics and multi-view SSL methods.

The core (metrics, functional metrics, losses, projectors) depends on torch and
torchmetrics only; the integrations live in :mod:`req_plugins.lightly` and
:mod:`req_plugins.solo` and are imported on demand.
"""

from importlib import import_module

# The public names, imported from their modules on first use (PEP 562): `import req_plugins`
# stays cheap, so the command-line tools parse their arguments (and answer --help) before
# torch is loaded.
_EXPORTS = {
    "req_plugins.functional": (
        "AlphaFit",
        "alpha_req",
        "cumulative_explained_variance",
        "effective_rank",
        "eigenspectrum",
        "lidar",
        "matrix_mutual_information",
        "num_eigenvalues_above",
        "renyi_entropy",
        "uniformity",
    ),
    "req_plugins.losses": (
        "AdaDimController",
        "AdaDimLoss",
        "MultiViewBarlowTwinsLoss",
        "MultiViewVICRegLoss",
        "NTXentLoss",
    ),
    "req_plugins.metrics": (
        "AlphaMetric",
        "AlphaReQ",
        "EffectiveRank",
        "LiDAR",
        "MatrixMutualInformation",
        "Uniformity",
    ),
    "req_plugins.projectors": ("ProjectionMLP", "beta_for_dim", "beta_for_views"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})


__version__ = "0.1.0"

__all__ = sorted(_MODULE_OF)
