"""Wall time of a fixed number of trials with 1, 2 and 4 local worker processes on one machine.

Run: `.venv/bin/python bench/bench_workers.py [--trials 8] [--workers 1 2 4] [--limit 120]`
Data: an ELPV subset (offline extra), backbone EfficientNet-Lite0 from the packaged weights; each setting
uses its own SQLite study and `num_threads = max(1, cores // workers)` torch threads per process.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import optuna

from advisor.auto.config import TuneConfig
from advisor.auto.search import run_search
from advisor.examples import write_example


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--limit", type=int, default=120, help="ELPV images to use")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cores = os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    data = write_example("elpv", root / "data", limit=args.limit, seed=0, link=True)
    rows = []
    for workers in args.workers:
        config = TuneConfig(
            data=data,
            out=root / f"w{workers}",
            trials=args.trials,
            backbone="efficientnet_lite0",
            budget_minutes=60,
            max_epochs_per_stage=3,
            workers=workers,
            num_threads=max(1, cores // workers),
            batch_size=16,
        )
        start = time.perf_counter()
        report = run_search(config)
        seconds = time.perf_counter() - start
        rows.append((workers, config.num_threads, report.n_trials, seconds, report.best.value if report.best else None))
    print(f"\n{args.trials} trials, ELPV {args.limit} images, EfficientNet-Lite0, {cores} CPU cores\n")
    print("| workers | torch threads each | trials | wall s | speed-up | best val acc |")
    print("|---|---|---|---|---|---|")
    base = rows[0][3]
    for workers, threads, n, seconds, best in rows:
        print(f"| {workers} | {threads} | {n} | {seconds:.0f} | {base / seconds:.2f}× | {best:.3f} |")


if __name__ == "__main__":
    main()
