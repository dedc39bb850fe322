"""Run-folder lock and atomic files, including across real processes and kills."""

import os
import signal
import subprocess
import sys
import time

import pytest

from req_plugins.rundir import (
    LOCK_FILE,
    RunLock,
    RunLockedError,
    atomic_open,
    atomic_write_text,
    lock_holder,
)

HOLD = """
import sys, time
from req_plugins.rundir import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""

HALF_WRITE = """
import os, sys
from req_plugins.rundir import atomic_open
with atomic_open(sys.argv[1]) as handle:
    handle.write("new, half written")
    handle.flush()
    print("writing", flush=True)
    os.kill(os.getpid(), 9)
"""


def _start(script: str, *args: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() in ("locked", "writing")
    return process


def test_second_lock_in_process_is_refused_and_released_lock_is_free(tmp_path):
    with RunLock(tmp_path) as lock:
        assert lock.held
        with pytest.raises(RunLockedError, match=str(os.getpid())) as info:
            RunLock(tmp_path).acquire()
        assert info.value.holder == os.getpid()
    assert not lock.held
    assert (tmp_path / LOCK_FILE).read_text() == ""
    with RunLock(tmp_path) as again:
        assert again.stale_holder is None


def test_lock_held_by_another_process_names_its_pid(tmp_path):
    holder = _start(HOLD, str(tmp_path))
    try:
        with pytest.raises(RunLockedError, match=f"process {holder.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_process_is_taken_over_and_reported(tmp_path):
    holder = _start(HOLD, str(tmp_path))
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with RunLock(tmp_path) as lock:
        assert lock.stale_holder == holder.pid
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "results.json"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]


def test_error_inside_atomic_open_keeps_previous_content(tmp_path):
    path = tmp_path / "results.json"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError), atomic_open(path) as handle:
        handle.write("new, half written")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_kill_during_atomic_write_keeps_previous_content(tmp_path):
    path = tmp_path / "results.json"
    atomic_write_text(path, "old")
    writer = _start(HALF_WRITE, str(path))
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    time.sleep(0.05)
    assert path.read_text() == "old"


def test_atomic_open_rejects_append_mode(tmp_path):
    with pytest.raises(ValueError, match="`mode`"), atomic_open(tmp_path / "x", "a"):
        pass


def test_docstring_examples():
    import doctest

    import req_plugins.rundir

    result = doctest.testmod(req_plugins.rundir)
    assert result.attempted > 0
    assert result.failed == 0


def test_lock_holder_reads_without_locking_or_writing(tmp_path):
    assert lock_holder(tmp_path) is None
    assert not (tmp_path / LOCK_FILE).exists()  # a folder never locked stays untouched
    holder = _start(HOLD, str(tmp_path))
    try:
        assert lock_holder(tmp_path) == holder.pid
    finally:
        holder.kill()
        holder.wait()
    assert lock_holder(tmp_path) is None  # the kernel dropped the dead holder's lock
