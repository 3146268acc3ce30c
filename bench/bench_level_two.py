"""Would a fine-tuned trial near the heads help the export on validation rows the weights never saw?

On a small validation split `advisor.auto.finish.select_out_of_fold` mixes the kept heads and the
classical member out of fold (level 1, `advisor.auto.stacking.level_one`), then lets a fine-tuned
trial compete with that mix on validation only if it alone beats the mix there. On kept ELPV binary
runs, greedy selection without that gate weighed a fine-tune 1–2 points under the mix at 0.2–0.5
and gained 1–7 test cells (`bench/bench_kept_heads.py`). Is that evidence or luck? This bench reads
kept runs (`bench/bench_peers.py --keep`: the study and the kept trials' folders; the classical
member is refitted as the search fitted it, no neural model is loaded), builds level 1 as the export
does, and for many random halvings of the validation rows chooses level 2 (the mix and every kept
fine-tuned trial, greedy selection, no gate) on one half and scores it on the other, paired with
the mix alone on the same rows.

    HF_HUB_OFFLINE=1 python bench/bench_level_two.py /tmp/bench-elpv-* /tmp/bench-bbc20-* --halvings 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_kept_heads import model_dir  # noqa: E402
from bench_oof_selection import accuracy, classical_oof  # noqa: E402

from advisor.auto.attrs import TrialAttr  # noqa: E402
from advisor.auto.stacking import level_one, member_name  # noqa: E402
from advisor.auto.study import FINE_TUNED, ranked_trials, trial_kind  # noqa: E402
from runners.ensemble import greedy_selection  # noqa: E402

MIX = "heads' mix"


def cross_fitted_gain(level: dict[str, np.ndarray], y: np.ndarray, halvings: int, seed: int) -> np.ndarray:
    """Per halving and direction: level 2 chosen on one half minus the mix alone, both scored on the other."""
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(halvings):
        order = rng.permutation(len(y))
        halves = (order[: len(y) // 2], order[len(y) // 2 :])
        for fit, held in (halves, halves[::-1]):
            weights = greedy_selection({n: p[fit] for n, p in level.items()}, y[fit])
            mix = np.sum([w * level[n][held] for n, w in weights.items()], axis=0)
            gains.append(accuracy(mix, y[held]) - accuracy(level[MIX][held], y[held]))
    return np.asarray(gains)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path, nargs="+", help="folders bench_peers.py --keep left (auto/ and data/)")
    parser.add_argument("--halvings", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(
        "| kept run | validation rows | heads' mix on validation | fine-tuned trials on validation "
        "| greedy on all validation: their weight | cross-fitted gain ± SE | halves helped / hurt |"
    )
    print("|---|---|---|---|---|---|---|")
    for kept in args.kept:
        run = kept / "auto"
        study = optuna.load_study(study_name=None, storage=f"sqlite:///{run / 'study.db'}")
        on_disk = [t for t in ranked_trials(study) if model_dir(run, t.number).is_dir()]
        heads = {member_name(t.number): t for t in on_disk if TrialAttr.CV_PROBS in t.user_attrs}
        tuned = {
            member_name(t.number): t
            for t in on_disk
            if trial_kind(t.user_attrs) == FINE_TUNED and TrialAttr.VAL_PROBS in t.user_attrs
        }
        if not heads or not tuned:
            print(f"| {kept.name} | no kept cross-validated head or no kept fine-tuned trial | | | | | |")
            continue
        member = classical_oof(study)
        y = np.asarray(next(iter(heads.values())).user_attrs[TrialAttr.VAL_LABELS], dtype=np.int64)
        first = level_one(heads, y, member)
        if first is None:
            print(f"| {kept.name} | the heads' rows are not this split's validation rows | | | | | |")
            continue
        level = {MIX: first.val_probs} | {n: np.asarray(t.user_attrs[TrialAttr.VAL_PROBS]) for n, t in tuned.items()}
        on_all = greedy_selection(level, y)
        gains = cross_fitted_gain(level, y, args.halvings, args.seed)
        error = gains.std(ddof=1) / np.sqrt(args.halvings)  # the two directions of a halving are not independent
        print(
            f"| {kept.name} | {len(y)} | {first.val_accuracy:.4f} | "
            + ", ".join(f"{n} {accuracy(level[n], y):.4f}" for n in tuned)
            + f" | {sum(w for n, w in on_all.items() if n != MIX):.2f} | {gains.mean():+.4f} ± {error:.4f} | "
            f"{np.mean(gains > 0):.2f} / {np.mean(gains < 0):.2f} |"
        )


if __name__ == "__main__":
    main()
