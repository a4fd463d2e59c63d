"""Start-up of the command line: ``python -m benchmarks.bench_cli [--runs 7]``.

Each help page is asked for in a fresh process, as a user at a shell does, so every run pays for
the interpreter start and for every import the command line makes. The bare interpreter
(``python -c pass``) is timed the same way as the floor. Target (issue 22 item 6): every help
page answers in under 0.5 s. Writes ``benchmarks/results/bench_cli.json``.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
from pathlib import Path

from benchmarks._harness import timed, write_result

TARGET_S = 0.5
HELP_PAGES: dict[str, list[str]] = {
    "vo-service --help": ["--help"],
    "vo-service serve --help": ["serve", "--help"],
    "vo-service worker --help": ["worker", "--help"],
    "vo-service archive simulate --help": ["archive", "simulate", "--help"],
    "vo-service cache evict --help": ["cache", "evict", "--help"],
    "vo-service registry record --help": ["registry", "record", "--help"],
}


def _command() -> list[str]:
    """The installed ``vo-service`` script beside this interpreter, else the same entry point."""
    script = Path(sys.executable).parent / "vo-service"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from vo_service.cli import main; main()"]


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="Fresh processes per help page.")
    args = parser.parse_args()
    command = _command()
    pages: dict[str, dict[str, float]] = {}
    pages["python -c pass"] = timed(
        functools.partial(_run, [sys.executable, "-c", "pass"]), args.runs
    )
    for label, extra in HELP_PAGES.items():
        argv = [*command, *extra]
        _run(argv)  # a first run fills the byte-code cache
        pages[label] = timed(functools.partial(_run, argv), args.runs)
    slowest = max(pages[label]["median_s"] for label in HELP_PAGES)
    result = {"runs": args.runs, "target_s": TARGET_S, "slowest_median_s": slowest, **pages}
    write_result("bench_cli", result)
    for label, times in pages.items():
        print(f"{label:<40} median {times['median_s']:.3f} s, best {times['best_s']:.3f} s")
    verdict = "meets" if slowest < TARGET_S else "misses"
    print(f"slowest help page {slowest:.3f} s: {verdict} the {TARGET_S} s target")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
