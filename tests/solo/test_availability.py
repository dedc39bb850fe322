"""Without a usable solo-learn, importing req_plugins.solo says what is wrong and how to fix it.

These tests need no solo-learn: they run in fresh interpreters where solo-learn is
hidden or replaced by a fake old release.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, *, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    paths = [str(pythonpath)] if pythonpath else []
    env["PYTHONPATH"] = os.pathsep.join(paths + [str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_missing_solo_learn_says_how_to_install_it():
    result = run_python(
        """
        import sys
        sys.modules["solo"] = None  # as if solo-learn were not installed
        try:
            import req_plugins.solo
        except ImportError as error:
            print(error)
        else:
            raise SystemExit("no ImportError")
        """
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout
    assert "solo-learn >= 1.0.6, which is not installed" in message
    assert "pip install --no-build-isolation git+https://github.com/vturrisi/solo-learn.git" in (
        message
    )


def test_too_old_solo_learn_is_reported_with_its_version(tmp_path):
    (tmp_path / "solo").mkdir()
    (tmp_path / "solo" / "__init__.py").write_text("")
    dist_info = tmp_path / "solo_learn-1.0.5.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: solo-learn\nVersion: 1.0.5\n")
    result = run_python(
        """
        try:
            import req_plugins.solo
        except ImportError as error:
            print(error)
        else:
            raise SystemExit("no ImportError")
        """,
        pythonpath=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "needs solo-learn >= 1.0.6, found 1.0.5" in result.stdout
    assert "git+https://github.com/vturrisi/solo-learn.git" in result.stdout
