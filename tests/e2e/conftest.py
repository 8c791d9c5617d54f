"""pytest fixtures shared by the end-to-end tests (helpers live in
airlock_e2e.py). Every process a test starts goes through `procs`, whose
teardown kills what is still running, pass or fail."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import airlock_e2e as e2e  # noqa: E402


@pytest.fixture
def procs():
    group = e2e.ProcessGroup()
    try:
        yield group
    finally:
        group.close()


@pytest.fixture
def start_airlock(procs):
    """Factory: start_airlock(args, ...) -> Airlock, waiting for HTTP unless
    wait=False. After the test, every airlock started this way is checked for
    sanitizer reports in its stderr."""
    started = []

    def start(args=(), wait=True, ready_timeout_s=30.0, **kw):
        a = e2e.Airlock(procs, list(args), **kw)
        started.append(a)
        if wait:
            a.wait_ready(ready_timeout_s)
        return a

    yield start
    procs.stop_all()  # stop them first so that their reports are complete
    for a in started:
        a.assert_clean_stderr()


@pytest.fixture(scope="session", autouse=True)
def _airlock_exists():
    path = e2e.airlock_bin()
    if not os.access(path, os.X_OK):
        pytest.exit(f"airlock executable not found at {path} (set AIRLOCK_BIN)", returncode=1)
