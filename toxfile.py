"""tox's inline plugin: the test environments use the torch that tox itself runs with.

PyPI's torch is a CUDA build of ~6 GB installed; every tox environment installing its own
copy filled CI machines' disks and re-downloaded the CUDA wheels each time. When the
interpreter running tox has torch, each environment gets a ``.pth`` line pointing at a
folder of links to torch, torchvision and their requirements (nothing else of the host
environment), so pip finds them installed. The environments still install everything else
themselves — solo's lightning 2.1.2 and torchmetrics 0.11, the wheel's extras — and a
package they pin differently is installed into the environment, which comes first on
``sys.path``. Without torch on the host this plugin does nothing.
"""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tox.plugin import impl

SHARED = ("torch", "torchvision")
#: Left to each environment: solo-learn's build needs ``setuptools<81``, torch wants >= 77.
BUILD_TOOLS = {"pip", "setuptools", "wheel"}
PTH_NAME = "_host_torch.pth"


def _closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, themselves included (markers evaluated)."""
    found: dict[str, metadata.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    pending = [(name, frozenset[str]()) for name in names]
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        if (key, extras) in visited or key in BUILD_TOOLS:
            continue
        visited.add((key, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here: the environment's pip resolves it
        found[key] = dist
        environments = [{"extra": extra} for extra in extras | {""}]
        for line in dist.requires or ():
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate(env) for env in environments):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return list(found.values())


def _link_folder(work_dir: Path) -> Path | None:
    """A folder of links to the host's torch and its requirements (existing links are kept)."""
    dists = _closure(SHARED)
    if not any(canonicalize_name(d.metadata["Name"]) == "torch" for d in dists):
        return None
    folder = work_dir / ".host-torch"
    folder.mkdir(parents=True, exist_ok=True)
    for dist in dists:
        site = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or () if ".." not in Path(f).parts}
        tops.discard("__pycache__")  # a single-module distribution's bytecode folder
        for top in tops:
            link, target = folder / top, site / top
            if target.exists() and not link.is_symlink():
                link.symlink_to(target)
    return folder


@impl
def tox_on_install(tox_env, arguments, section, of_type) -> None:  # noqa: ARG001 (hook signature)
    site_packages = getattr(tox_env, "env_site_package_dir", None)
    if site_packages is None:
        return
    pth = site_packages() / PTH_NAME
    if pth.exists():
        return
    folder = _link_folder(Path(tox_env.core["work_dir"]))
    if folder is not None:
        pth.write_text(f"{folder}\n")
