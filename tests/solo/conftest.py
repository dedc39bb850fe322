"""``REQ_PLUGINS_SOLO_NO_SKIP=1`` (set by ``tox -e solo``) turns every skip in tests/solo into a
failure: where solo-learn is meant to be installed, a missing piece must not pass unnoticed."""

import os

import pytest

NO_SKIP_ENV = "REQ_PLUGINS_SOLO_NO_SKIP"


def _fail_skips(report) -> None:
    if os.environ.get(NO_SKIP_ENV) != "1" or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
    report.outcome = "failed"
    report.longrepr = f"skipped, but {NO_SKIP_ENV}=1 requires it to run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skips(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skips(outcome.get_result())
