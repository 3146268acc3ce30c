"""Out-of-fold ensemble selection over the best head or over every kept head, on a kept `advisor auto` run.

`advisor.auto.finish.select_out_of_fold` weighs, on the out-of-fold predictions over train +
validation, the head-only trials and the classical member (pixels, TF-IDF); until f2ca680 it took
the best head alone. This bench reads a run that `bench/bench_peers.py --keep` left (its
`auto/study.db`, the kept trials' models, and the task folder's `test/` beside it), refits the
classical member as the search did (same seed, same folds), runs the greedy selection on the
out-of-fold predictions of (a) the best head and the classical member and (b) every head whose
model was kept and the classical member, and scores both mixes with the searched models (no refit)
on the test split. Then level 2 over the kept fine-tuning trials, on the validation rows, as the
export chooses it (`select_out_of_fold`: a fine-tuning trial competes only if it alone beats the
level-1 mix on validation) and with greedy selection alone deciding (no such gate).
Example (after a kept ELPV 4 grades run; a minute or two of test passes):

    HF_HUB_OFFLINE=1 python bench/bench_peers.py --task elpv4 --budget-minutes 10 --rows "advisor auto" --keep
    HF_HUB_OFFLINE=1 python bench/bench_kept_heads.py /tmp/bench-elpv4-XXXXXXXX
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.auto.attrs import StudyAttr, TrialAttr  # noqa: E402
from advisor.auto.classical import fit_classical_member  # noqa: E402
from advisor.auto.config import TuneConfig  # noqa: E402
from advisor.auto.finish import LEVEL_ONE, select_out_of_fold  # noqa: E402
from advisor.auto.setup import data_source  # noqa: E402
from runners import get_runner  # noqa: E402
from runners.data.splits import stratified_split  # noqa: E402
from runners.ensemble import greedy_selection  # noqa: E402
from runners.predict import load_predictor  # noqa: E402


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(1) == y).mean())


def model_dir(run: Path, number: int) -> Path:
    """Where a kept trial's searched model lies in a kept run (the search's `trials/NNNN/model`)."""
    return run / "trials" / f"{number:04d}" / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path, help="a folder bench_peers.py --keep left (holds auto/ and data/)")
    args = parser.parse_args()
    run, test_root = args.kept / "auto", args.kept / "data" / "test"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{run / 'study.db'}")
    config = TuneConfig.model_validate(study.user_attrs[StudyAttr.CONFIG])
    data = get_runner(config.data_modality).load_data(data_source(config))
    split = stratified_split(data, config.split_fractions, config.seed)
    classes = list(split.class_names)
    member = fit_classical_member(config, data, split)
    heads = {
        t.number: t for t in study.trials if TrialAttr.CV_PROBS in t.user_attrs and model_dir(run, t.number).is_dir()
    }
    if not heads or member is None or member.oof_probs is None:
        raise SystemExit(f"{run}: no kept cross-validated head or no out-of-fold classical member to weigh")
    y_oof = np.asarray(next(iter(heads.values())).user_attrs[TrialAttr.CV_LABELS])
    test = sorted(p for p in test_root.rglob("*") if p.is_file())
    y_test = np.array([classes.index(p.parent.name) for p in test])
    inputs = [p.read_text(encoding="utf-8") if config.data_modality == "text" else str(p) for p in test]
    oof = {f"trial_{n:04d}": np.asarray(t.user_attrs[TrialAttr.CV_PROBS]) for n, t in heads.items()}
    on_test = {f"trial_{n:04d}": load_predictor(model_dir(run, n)).predict_proba(inputs) for n in heads}
    oof[member.name], on_test[member.name] = member.oof_probs, member.model.predict_proba(inputs)
    best = f"trial_{max(heads, key=lambda n: heads[n].value or 0.0):04d}"
    print(f"{args.kept.name}: {len(y_oof)} out-of-fold rows, {len(y_test)} test examples\n")
    print("| member or mix | weights | out of fold | test |\n|---|---|---|---|")
    for name in oof:
        print(f"| {name} | | {accuracy(oof[name], y_oof):.4f} | {accuracy(on_test[name], y_test):.4f} |")
    for label, names in (("best head + classical", [best, member.name]), ("every kept head + classical", list(oof))):
        weights = greedy_selection({n: oof[n] for n in names}, y_oof)
        mix_oof = np.sum([w * oof[n] for n, w in weights.items()], axis=0)
        mix_test = np.sum([w * on_test[n] for n, w in weights.items()], axis=0)
        print(f"| {label} | {listed(weights)} | {accuracy(mix_oof, y_oof):.4f} | {accuracy(mix_test, y_test):.4f} |")
    tuned = {
        f"trial_{t.number:04d}": t
        for t in study.trials
        if t.number not in heads and TrialAttr.VAL_PROBS in t.user_attrs and model_dir(run, t.number).is_dir()
    }
    if not tuned:
        return
    y_val = y_oof[len(split.train) :]
    val = {name: np.asarray(t.user_attrs[TrialAttr.VAL_PROBS]) for name, t in tuned.items()}
    for name, t in tuned.items():
        on_test[name] = load_predictor(model_dir(run, t.number)).predict_proba(inputs)
        print(
            f"| {name} (fine-tuned; validation, not out of fold) | | {accuracy(val[name], y_val):.4f} | "
            f"{accuracy(on_test[name], y_test):.4f} |"
        )
    candidates = {f"trial_{n:04d}": t for n, t in heads.items()} | tuned
    chosen = select_out_of_fold(candidates, val, y_val, member)  # type: ignore[arg-type]
    assert chosen is not None
    level_one = {n: w for n, w in chosen.weights.items() if n in oof}
    share = sum(level_one.values())
    level = {LEVEL_ONE: np.sum([w / share * oof[n][len(split.train) :] for n, w in level_one.items()], axis=0), **val}
    ungated = greedy_selection(level, y_val)
    ungated = {n: w * ungated.get(LEVEL_ONE, 0.0) / share for n, w in level_one.items()} | {
        n: w for n, w in ungated.items() if n != LEVEL_ONE
    }
    for label, weights in (("level 2 as exported (gate)", chosen.weights), ("level 2, greedy alone", ungated)):
        mix_val = np.sum([w * (val[n] if n in val else oof[n][len(split.train) :]) for n, w in weights.items()], axis=0)
        mix_test = np.sum([w * on_test[n] for n, w in weights.items()], axis=0)
        print(
            f"| {label} | {listed(weights)} | {accuracy(mix_val, y_val):.4f} (validation) | "
            f"{accuracy(mix_test, y_test):.4f} |"
        )


def listed(weights: dict[str, float]) -> str:
    return ", ".join(f"{n} {w:.2f}" for n, w in sorted(weights.items(), key=lambda kv: -kv[1]) if w > 0)


if __name__ == "__main__":
    main()
