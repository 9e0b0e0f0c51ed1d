"""`python -m tests.crash --trials N [--db sqlite|postgres|both] [--broken VARIANT]`: run crash
trials and print a summary table; exit 1 when any guarantee was broken."""

from __future__ import annotations

import argparse
import sys
import time

from .suite import PARALLEL, run_suite, summary_table


def _flush_print(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crash", description=__doc__)
    parser.add_argument("--trials", type=int, default=20, help="trials per database")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1, help="first trial's seed")
    parser.add_argument("--broken", default="", help="a deliberately broken build variant")
    parser.add_argument("--parallel", type=int, default=PARALLEL, help="trials at once")
    parser.add_argument("--minutes", type=float, help="time budget: no new trial after it")
    parser.add_argument("--verbose", action="store_true", help="one line per trial")
    args = parser.parse_args(argv)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    began = time.monotonic()
    results = run_suite(dbs, args.trials, args.seed, args.broken,
                        progress=_flush_print if args.verbose else None,
                        parallel=args.parallel, minutes=args.minutes)
    print(summary_table(results))
    print(f"\n{sum(len(r.outcomes) for r in results)} trials in "
          f"{time.monotonic() - began:.0f} s")
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
