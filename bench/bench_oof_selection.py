"""Does level 1's greedy selection overfit the out-of-fold rows? Select on one half, score on the other.

`advisor.auto.finish.select_out_of_fold` weighs the kept cross-validated heads by greedy selection
with replacement (`runners.ensemble.greedy_selection`: accuracy, ties to log-loss) on their
out-of-fold predictions over train + validation. This bench reads the study of kept `advisor auto`
runs (`bench/bench_peers.py --keep`; only `auto/study.db`: no neural model is loaded or refitted),
takes the heads the search keeps (the first `KEEP_MODELS` of `diverse_first` among the
cross-validated trials), and for many random halvings of the out-of-fold rows chooses weights on one
half and scores the mix on the other, for six rules: the project's greedy selection, greedy
selection on log-loss alone, the best head alone, the plain mean of the kept members, bagged greedy
selection and a logistic-regression stacker. The classical member's out-of-fold predictions are
not stored with the study: `--classical` refits it as the search did (reading the data again) and
weighs it beside the heads, as the export does.

    HF_HUB_OFFLINE=1 python bench/bench_oof_selection.py /tmp/bench-elpv4-* /tmp/bench-elpv-* --halvings 40
    HF_HUB_OFFLINE=1 python bench/bench_oof_selection.py /tmp/bench-elpv-A /tmp/bench-digits-B --classical
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
from advisor.auto.stacking import StoredMember  # noqa: E402
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


def bagged_greedy(pool: Probs, y: np.ndarray, bags: int = 20, seed: int = 0) -> dict[str, float]:
    """Greedy selection on `bags` bootstrap samples of the rows, the weights averaged (Caruana et al.,
    ICML 2004, bagged ensemble selection: their remedy for its overfitting on small selection sets)."""
    rng = np.random.default_rng(seed)
    weights = dict.fromkeys(pool, 0.0)
    for _ in range(bags):
        rows = rng.integers(0, len(y), len(y))
        for name, w in greedy_selection({n: p[rows] for n, p in pool.items()}, y[rows]).items():
            weights[name] += w / bags
    return {n: w for n, w in weights.items() if w > 0}


Mixer = Callable[[Probs], np.ndarray]


def weighing(rule: Callable[[Probs, np.ndarray], dict[str, float]]) -> Callable[[Probs, np.ndarray], Mixer]:
    """A rule that weighs the members, as one that returns the mix it chose."""

    def fit(pool: Probs, y: np.ndarray) -> Mixer:
        weights = rule(pool, y)
        return lambda rows: np.sum([w * rows[n] for n, w in weights.items()], axis=0)

    return fit


def stacker(pool: Probs, y: np.ndarray) -> Mixer:
    """Logistic regression (C 0.1) on the members' log-probabilities, side by side: a learned combiner."""
    from sklearn.linear_model import LogisticRegression

    def features(rows: Probs) -> np.ndarray:
        return np.hstack([np.log(np.clip(rows[n], 1e-6, 1.0)) for n in sorted(rows)])

    model = LogisticRegression(C=0.1, max_iter=2000).fit(features(pool), y)

    # Columns in class-id order; a class absent from the rows it was fitted on scores 0.
    def mix(rows: Probs) -> np.ndarray:
        out = np.zeros_like(next(iter(rows.values())))
        out[:, model.classes_] = model.predict_proba(features(rows))
        return out

    return mix


RULES: dict[str, Callable[[Probs, np.ndarray], Mixer]] = {
    "greedy (accuracy)": weighing(greedy_selection),
    "greedy (log-loss)": weighing(greedy_on_log_loss),
    "best member alone": weighing(
        lambda pool, y: {max(pool, key=lambda n: (accuracy(pool[n], y), -log_loss(pool[n], y))): 1.0}
    ),
    "mean of the kept": weighing(lambda pool, y: dict.fromkeys(pool, 1 / len(pool))),
    "bagged greedy": weighing(bagged_greedy),
    "stacker (LR)": stacker,
}


def classical_oof(study: optuna.Study) -> StoredMember | None:
    """The classical member's out-of-fold rows, refitted as the search fitted it (same seed and folds),
    in the form the study keeps them (`advisor.auto.stacking.store_classical`)."""
    from advisor.auto.attrs import StudyAttr
    from advisor.auto.classical import fit_classical_member
    from advisor.auto.config import TuneConfig
    from advisor.auto.setup import data_source
    from runners import get_runner
    from runners.data.splits import stratified_split

    config = TuneConfig.model_validate(study.user_attrs[StudyAttr.CONFIG])
    data = get_runner(config.data_modality).load_data(data_source(config))
    member = fit_classical_member(config, data, stratified_split(data, config.split_fractions, config.seed))
    if member is None or member.oof_probs is None:
        return None
    return StoredMember(member.name, np.asarray(member.oof_labels), np.asarray(member.oof_probs, dtype=float))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path, nargs="+", help="folders bench_peers.py --keep left (hold auto/study.db)")
    parser.add_argument("--halvings", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--classical", action="store_true", help="refit the classical member (pixels, TF-IDF) and weigh it too"
    )
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
        classical = classical_oof(study) if args.classical else None
        if classical is not None and np.array_equal(classical.oof_labels, y):
            pool[classical.name] = classical.oof_probs
        scores: dict[str, list[float]] = {rule: [] for rule in RULES}
        for _ in range(args.halvings):
            order = rng.permutation(len(y))
            chosen_on, scored_on = order[: len(y) // 2], order[len(y) // 2 :]
            for rule, fit in RULES.items():
                mix = fit({n: p[chosen_on] for n, p in pool.items()}, y[chosen_on])
                scores[rule].append(accuracy(mix({n: p[scored_on] for n, p in pool.items()}), y[scored_on]))
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
