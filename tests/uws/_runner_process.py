"""A runner in its own process, for the kill -9 tests.

Usage: ``python -m tests.uws._runner_process URL ROOT``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from uws import JobStore, Runner, RunnerConfig
from uws.testing import test_kinds
from vo_service.db import make_engine


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    url, root = sys.argv[1], Path(sys.argv[2])
    runner = Runner(
        JobStore(make_engine(url)),
        test_kinds(),
        RunnerConfig(work_root=root, slots=1, poll_interval=0.1, heartbeat_interval=0.5),
    )
    print(runner.runner_id, flush=True)
    runner.run_forever()


if __name__ == "__main__":
    main()
