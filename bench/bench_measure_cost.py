"""What measuring similarity costs `advisor auto`: one trial with the similarity measured vs given.

Each configuration runs in a fresh process (the activation cache is per process), alternating,
`--repeats` times. Example (about 3 minutes on 2 CPU cores):

    advisor example elpv /tmp/elpv400 --limit 400
    HF_HUB_OFFLINE=1 python bench/bench_measure_cost.py /tmp/elpv400 --backbone efficientnet_lite0
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_ONE_RUN = """
import json, sys, time
from pathlib import Path
from advisor.auto.config import TuneConfig
from advisor.auto.search import run_search
data, out, backbone, similarity = sys.argv[1:5]
start = time.perf_counter()
config = TuneConfig(data=Path(data), out=Path(out), backbone=backbone or None, trials=1, budget_minutes=20,
                    max_epochs_per_stage=2, similarity=similarity or None)
run_search(config)
report = json.loads((Path(out) / "report.json").read_text())
print(json.dumps({"total": time.perf_counter() - start, "trial0": report["trials"][0]["seconds"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--backbone", default="", help="Empty: rank every offline backbone first.")
    parser.add_argument("--given", default="different", help="The similarity the 'given' runs pass.")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"measured": [], "given": []}
    for _ in range(args.repeats):
        for label, similarity in (("measured", ""), ("given", args.given)):
            with tempfile.TemporaryDirectory() as out:
                cmd = [sys.executable, "-c", _ONE_RUN, str(args.data), out, args.backbone, similarity]
                done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
                runs[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"data {args.data}, backbone {args.backbone or '(ranked)'}, one trial, {args.repeats} runs each")
    print("| similarity | total s (median) | rule-plan trial s (median) |")
    print("|---|---|---|")
    for label, rows in runs.items():
        total = statistics.median(r["total"] for r in rows)
        trial = statistics.median(r["trial0"] for r in rows)
        print(f"| {label} | {total:.1f} | {trial:.1f} |")


if __name__ == "__main__":
    main()
