import faulthandler

import pytest

TEST_TIMEOUT_S = 3


@pytest.fixture(autouse=True)
def hard_timeout():
    """Dump every thread's stack and exit if a test hangs (run with -s to see it)."""
    faulthandler.dump_traceback_later(TEST_TIMEOUT_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
