"""Install solo-learn from a source and unpack that source for its ``main_*.py`` scripts.

``tox -e solo`` runs it before ``tests/solo``::

    python tests/solo/solo_learn_source.py SOURCE DEST

SOURCE is what ``pip install`` takes for solo-learn: ``git+URL@COMMIT`` (upstream),
a source archive (``.tar.gz``/``.zip``) or a source folder. solo-learn's
``setup.py`` imports ``pkg_resources``, so it is built without build isolation
against the environment's ``setuptools<81``. Its ``main_pretrain.py`` and
``main_linear.py`` are not part of the installed package: DEST receives the
source tree (the tests find it through ``SOLO_LEARN_ROOT``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

SCRIPTS = ("main_pretrain.py", "main_linear.py")


def unpack(source: str, dest: Path) -> Path:
    """Put the source tree of ``source`` in ``dest`` (replaced); return ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    if source.startswith("git+"):
        url, _, revision = source[len("git+") :].rpartition("@")
        if not url or "/" in revision:  # no @REVISION: the '@' belonged to the URL
            url, revision = source[len("git+") :], ""
        subprocess.run(["git", "clone", "--quiet", url, str(dest)], check=True)
        if revision:
            subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", revision], check=True)
        return dest
    path = Path(source)
    if path.is_dir():
        shutil.copytree(path, dest)
        return dest
    with tempfile.TemporaryDirectory() as scratch:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                archive.extractall(scratch)
        else:
            with tarfile.open(path) as archive:
                archive.extractall(scratch, filter="data")
        entries = list(Path(scratch).iterdir())
        # an archive holds either the tree itself or one top-level folder with it
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else Path(scratch)
        shutil.copytree(root, dest)
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, dest = argv[0], Path(argv[1]).resolve()
    install = [sys.executable, "-m", "pip", "install", "--no-build-isolation", source]
    subprocess.run(install, check=True)
    root = unpack(source, dest)
    missing = [name for name in SCRIPTS if not (root / name).is_file()]
    if missing:
        print(f"{source} holds no {', '.join(missing)}: not a solo-learn source", file=sys.stderr)
        return 1
    print(f"solo-learn source in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
