"""The project's own plugin: registers its methods and metrics through the public hooks.

It is exposed as the ``builtin`` entry point of the ``req_plugins`` group, exactly
as a third-party package would expose its plugin.
"""

from __future__ import annotations

from req_plugins.plugins.hookspecs import hookimpl

_LIGHTNING_METHODS = {
    "barlow_twins": ("barlow_twins:BarlowTwins", "Barlow Twins with lightly's BarlowTwinsLoss"),
    "vicreg": ("vicreg:VICReg", "VICReg with lightly's VICRegLoss"),
    "simclr": ("simclr:SimCLR", "SimCLR with lightly's NTXentLoss"),
    "mv_barlow_twins": (
        "mv_barlow_twins:MultiViewBarlowTwins",
        "Barlow Twins over m >= 2 views, beta from the projector dimension",
    ),
    "mv_vicreg": ("mv_vicreg:MultiViewVICReg", "VICReg over m >= 2 views (leave-one-out)"),
    "adadim": ("adadim:AdaDim", "AdaDim: adaptive VICReg <-> InfoNCE mix with I(R;Z) term"),
}


@hookimpl
def req_register_methods(registry) -> None:
    for name, (target, description) in _LIGHTNING_METHODS.items():
        registry.add_method(
            name,
            f"req_plugins.lightly.methods.{target}",
            framework="lightning",
            description=description,
        )


@hookimpl
def req_register_metrics(registry) -> None:
    registry.add_metric("alpha", "req_plugins.metrics:AlphaReQ", inputs="features")
    registry.add_metric("effective_rank", "req_plugins.metrics:EffectiveRank", inputs="features")
    registry.add_metric(
        "mutual_information", "req_plugins.metrics:MatrixMutualInformation", inputs="pair"
    )
    registry.add_metric("lidar", "req_plugins.metrics:LiDAR", inputs="views")
    registry.add_metric("uniformity", "req_plugins.metrics:Uniformity", inputs="features")


# -- solo-learn methods (req_plugins.solo) ---------------------------------------------------
# Their names appear in solo.methods.METHODS through the req_plugins_solo_autoload hook.
_SOLO_METHODS = {
    "mv_barlow_twins": (
        "mv_barlow_twins:MultiViewBarlowTwins",
        "Barlow Twins over every crop (m >= 2 views); lamb/scale_loss as solo-learn's",
    ),
    "mv_vicreg": ("mv_vicreg:MultiViewVICReg", "VICReg over every crop (leave-one-out)"),
    "lowdim_barlow_twins": (
        "lowdim_barlow_twins:LowDimBarlowTwins",
        "mv_barlow_twins with a d=256 two-layer projector, beta = 4e-4 * 8192 / d",
    ),
    "lowdim_vicreg": (
        "lowdim_vicreg:LowDimVICReg",
        "mv_vicreg with a d=256 two-layer projector, nu = lambda * 1.3e-3 * 8192 / d",
    ),
    "adadim": (
        "adadim:AdaDim",
        "AdaDim: VICReg <-> InfoNCE mixed by the backbone's effective rank, + I(R;Z) term",
    ),
}


@hookimpl(specname="req_register_methods")
def req_register_solo_methods(registry) -> None:
    for name, (target, description) in _SOLO_METHODS.items():
        registry.add_method(
            name, f"req_plugins.solo.{target}", framework="solo", description=description
        )
