"""What the exports of kept `advisor auto` runs hold: each member's kind, counted over the runs.

`advisor auto` enqueues head-only trials after the rule plan (`advisor.auto.setup.head_sweep`), and
where the budget ends that queue is cut: what runs first is what an export can hold. This bench reads
the `auto/report.json` of runs `bench/bench_peers.py --keep` left and prints, per run, its test
accuracy, its last trial and its members; then, per kind of member (a head's features, kernel, views
and strength; a fine-tuning trial's depth; the classical member), in how many exports it sits and its
mean weight there. It trains nothing and reads no model: a second per run.

Example (after a few kept ELPV runs):

    HF_HUB_OFFLINE=1 python bench/bench_peers.py --task elpv4 --budget-minutes 10 --rows "advisor auto" --keep
    python bench/bench_export_members.py /tmp/bench-elpv4-* /tmp/bench-elpv-*
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.auto.space import TrialPlan, describe  # noqa: E402


def member_kind(trial: dict[str, Any] | None, name: str, n_blocks: int) -> str:
    """A member's kind from its trial's row of the report (None: the classical member, named as exported):
    a head as the report describes it (`advisor.auto.space.describe`), a fine-tuning trial by its depth."""
    if trial is None:
        return name
    plan = TrialPlan.model_validate(trial["params"])
    source = "rule plan" if trial.get("rule_plan") else "trial"
    if plan.trainable_blocks > 0:  # its rates and epochs would make every such trial a kind of its own
        return f"{source}: fine-tune top {plan.trainable_blocks}"
    return f"{source}: {describe(plan, n_blocks)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path, nargs="+", help="folders bench_peers.py --keep left (each holds auto/)")
    args = parser.parse_args()
    weights: dict[str, list[float]] = defaultdict(list)
    n_runs = 0
    print("| run | test | last trial | members (weight) |\n|---|---|---|---|")
    for kept in args.kept:
        path = kept / "auto" / "report.json"
        if not path.is_file():
            print(f"| {kept.name} | — | — | no auto/report.json |")
            continue
        report = json.loads(path.read_text())
        trials = {t["number"]: t for t in report["trials"]}
        ran = [t["number"] for t in report["trials"] if t["status"] in ("complete", "stopped", "pruned")]
        members = []
        for member in report.get("ensemble") or []:
            trial = trials.get(member["trial"]) if member["trial"] is not None else None
            kind = member_kind(trial, member["name"], report["n_blocks"])
            weights[kind].append(member["weight"])
            members.append(f"{kind} ({member['weight']:.2f})")
        n_runs += 1
        test = report.get("test_accuracy")
        print(f"| {kept.name} | {test:.3f} | {max(ran, default=-1)} | {'; '.join(members)} |")
    print(f"\n| member kind | exports holding it (of {n_runs}) | mean weight there |\n|---|---|---|")
    for kind, ws in sorted(weights.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"| {kind} | {len(ws)} | {sum(ws) / len(ws):.2f} |")


if __name__ == "__main__":
    main()
