"""toxfile.py: tox environments import the host's torch through a folder of links."""

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
toxfile = pytest.importorskip("toxfile", reason="tox is in the dev extra")


def test_closure_holds_torch_and_its_requirements_but_not_build_tools():
    names = {dist.metadata["Name"].lower() for dist in toxfile._closure(toxfile.SHARED)}
    assert {"torch", "torchvision", "numpy", "pillow", "sympy"} <= names
    assert not names & toxfile.BUILD_TOOLS
    assert "lightly" not in names and "req-plugins" not in names


def test_an_environment_without_torch_imports_the_linked_one(tmp_path):
    folder = toxfile._link_folder(tmp_path / "work")
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    code = "import torch, torchvision; print(torch.__version__, torch.ones(2).sum().item())"
    before = subprocess.run([python, "-c", code], capture_output=True, text=True)
    assert before.returncode != 0 and "No module named 'torch'" in before.stderr

    (Path(site) / toxfile.PTH_NAME).write_text(f"{folder}\n")
    after = subprocess.run([python, "-c", code], capture_output=True, text=True)
    assert after.returncode == 0, after.stderr
    import torch

    assert after.stdout.split() == [torch.__version__, "2.0"]
    hidden = subprocess.run([python, "-c", "import lightly"], capture_output=True, text=True)
    assert hidden.returncode != 0  # only torch's closure is shared, not the host's packages
