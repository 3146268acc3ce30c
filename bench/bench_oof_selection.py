"""Does level 1's greedy selection overfit the out-of-fold rows? Select on one half, score on the other.

`advisor.auto.finish.select_out_of_fold` weighs the kept cross-validated heads by greedy selection
with replacement (`runners.ensemble.greedy_selection`: accuracy, ties to log-loss) on their
out-of-fold predictions over train + validation. This bench reads the study of kept `advisor auto`
runs (`bench/bench_peers.py --keep`; only `auto/study.db`, no model is loaded and nothing is
refitted), takes the heads the search keeps (the first `KEEP_MODELS` of `diverse_first` among the
cross-validated trials), and for many random halvings of the out-of-fold rows chooses weights on one
half and scores the mix on the other, for four rules: the project's greedy selection, greedy
selection on log-loss alone, the best head alone, and the plain mean of the kept heads. The
classical member is left out: its out-of-fold predictions are not stored with the study.

    HF_HUB_OFFLINE=1 python bench/bench_oof_selection.py /tmp/bench-elpv4-* /tmp/bench-elpv-* --halvings 40
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.auto.attrs import TrialAttr  # noqa: E402
from advisor.auto.objective import KEEP_MODELS  # noqa: E402
from advisor.auto.study import diverse_first, ranked_trials  # noqa: E402
from runners.ensemble import greedy_selection  # noqa: E402
from runners.predict import log_loss  # noqa: E402

Probs = dict[str, np.ndarray]


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(1) == y).mean())


def greedy_on_log_loss(pool: Probs, y: np.ndarray, rounds: int = 25) -> dict[str, float]:
    """Greedy selection with replacement as `greedy_selection`, each round and the prefix chosen on log-loss alone."""
    names = sorted(pool)
    total, counts = np.zeros_like(pool[names[0]]), dict.fromkeys(names, 0)
    best, best_counts = np.inf, counts
    for k in range(1, rounds + 1):
        losses = {n: log_loss((total + pool[n]) / k, y) for n in names}
        chosen = min(names, key=losses.__getitem__)
        total += pool[chosen]
        counts[chosen] += 1
        if losses[chosen] < best:
            best, best_counts = losses[chosen], dict(counts)
    size = sum(best_counts.values())
    return {n: c / size for n, c in best_counts.items() if c}


RULES: dict[str, Callable[[Probs, np.ndarray], dict[str, float]]] = {
    "greedy (accuracy)": greedy_selection,
    "greedy (log-loss)": greedy_on_log_loss,
    "best head": lambda pool, y: {max(pool, key=lambda n: (accuracy(pool[n], y), -log_loss(pool[n], y))): 1.0},
    "mean of the kept": lambda pool, y: dict.fromkeys(pool, 1 / len(pool)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path, nargs="+", help="folders bench_peers.py --keep left (hold auto/study.db)")
    parser.add_argument("--halvings", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(args.seed)
    print(f"| run | rows | {' | '.join(RULES)} |\n|---|---|{'---|' * len(RULES)}")
    means: list[list[float]] = []
    for folder in args.kept:
        study = optuna.load_study(study_name=None, storage=f"sqlite:///{folder / 'auto' / 'study.db'}")
        heads = [t for t in ranked_trials(study) if TrialAttr.CV_PROBS in t.user_attrs]
        if len(heads) < 2:
            continue
        y = np.asarray(heads[0].user_attrs[TrialAttr.CV_LABELS])
        pool = {f"trial_{t.number:04d}": np.asarray(t.user_attrs[TrialAttr.CV_PROBS]) for t in diverse_first(heads)}
        pool = dict(list(pool.items())[:KEEP_MODELS])
        scores: dict[str, list[float]] = {rule: [] for rule in RULES}
        for _ in range(args.halvings):
            order = rng.permutation(len(y))
            chosen_on, scored_on = order[: len(y) // 2], order[len(y) // 2 :]
            for rule, select in RULES.items():
                weights = select({n: p[chosen_on] for n, p in pool.items()}, y[chosen_on])
                mix = np.sum([w * pool[n][scored_on] for n, w in weights.items()], axis=0)
                scores[rule].append(accuracy(mix, y[scored_on]))
        row = [float(np.mean(v)) for v in scores.values()]
        means.append(row)
        print(f"| {folder.name} | {len(y)} | {' | '.join(f'{v:.4f}' for v in row)} |")
    if not means:
        raise SystemExit("no run with two cross-validated heads among the folders")
    table = np.array(means)
    diffs = table - table[:, :1]
    n = len(table)
    se = diffs.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(RULES))
    print(f"| mean of {n} runs | | {' | '.join(f'{v:.4f}' for v in table.mean(0))} |")
    print(
        f"| − greedy (accuracy), paired | | {' | '.join(f'{d:+.4f} ± {e:.4f}' for d, e in zip(diffs.mean(0), se, strict=True))} |"
    )


if __name__ == "__main__":
    main()
