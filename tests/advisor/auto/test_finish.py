"""The finishing phase on a real (tiny) text search: ensemble with a TF-IDF member, refit, export, predict."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import optuna
import pytest
import torch

from advisor.auto.config import TuneConfig
from advisor.auto.finish import refit_spec
from advisor.auto.search import run_search
from advisor.auto.trial_specs import trial_spec
from runners import AugmentConfig, load_predictor
from runners.data.splits import stratified_split

optuna.logging.set_verbosity(optuna.logging.WARNING)
WORDS = {
    "sport": "football goal match team player coach league score",
    "tech": "computer software chip internet phone data network code",
    "money": "market shares profit bank economy trade price growth",
}


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A CSV of keyword texts (noisy: a fifth of each text's words come from another class) and a tiny BERT."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny_text")
    rnd = random.Random(0)
    rows = []
    for label, words in WORDS.items():
        others = " ".join(w for k, ws in WORDS.items() if k != label for w in ws.split()).split()
        for _ in range(30):
            text = rnd.choices(words.split(), k=6) + rnd.choices(others, k=2)
            rnd.shuffle(text)
            rows.append((" ".join(text), label))
    with (root / "data.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for ws in WORDS.values() for w in ws.split()})
    (root / "bert").mkdir()
    (root / "bert" / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
    )
    BertForSequenceClassification(config).save_pretrained(root / "bert")
    BertTokenizerFast(vocab_file=str(root / "bert" / "vocab.txt")).save_pretrained(root / "bert")
    return root / "data.csv", root / "bert"


def test_text_search_exports_what_predict_reproduces(tiny_text, tmp_path) -> None:
    data, bert = tiny_text
    config = TuneConfig(
        data=data,
        out=tmp_path / "out",
        backbone="tiny-bert",
        weights=str(bert),
        similarity="similar",
        trials=6,
        budget_minutes=5,
        max_epochs_per_stage=2,
        batch_size=16,
        max_length=16,
    )
    report = run_search(config)
    assert report.best is not None and report.model_dir is not None
    # 90 examples → 14 for validation: head-only trials were selected by 5-fold CV, with a standard error.
    head_only = [t for t in report.trials if t.state == "COMPLETE" and t.params["trainable_blocks"] == 0]
    assert head_only
    assert report.ensemble and all(m.weight > 0 for m in report.ensemble)
    assert sum(m.weight for m in report.ensemble) == pytest.approx(1.0)
    names = {m.name for m in report.ensemble}
    model_dir = Path(report.model_dir)
    if len(report.ensemble) > 1:  # an ensemble folder: one sub-folder per member
        manifest = json.loads((model_dir / "ensemble.json").read_text())
        assert {m["name"] for m in manifest["members"]} == names
    assert all(m.refit for m in report.ensemble)  # time was left: every member retrained on train + val
    # The exported model scores the test split exactly as the report says.
    import runners

    loaded = runners.get_runner("text").load_data(
        runners.TrialSpec(modality="text", backbone="x", data=data)  # the same CSV, the same split
    )
    split = stratified_split(loaded, config.split_fractions, config.seed)
    test_x = [loaded.inputs[i] for i in split.test]
    test_y = [loaded.labels[i] for i in split.test]
    predicted = load_predictor(model_dir).predict(test_x)
    accuracy = sum(label == truth for (label, _), truth in zip(predicted, test_y, strict=True)) / len(test_y)
    assert accuracy == pytest.approx(report.test_accuracy, abs=1e-12)
    assert report.prediction_seconds_per_example is not None and report.phase_seconds.keys() >= {"setup", "trials"}
    assert "Exported model:" in (tmp_path / "out" / "report.md").read_text()


def test_refit_trains_on_train_plus_validation_up_to_the_best_epoch(tiny_text) -> None:
    class Trial:
        number = 3
        user_attrs = {
            "plan": {
                "trainable_blocks": 2,
                "head_c": 0.1,
                "lr_head": 1e-3,
                "lr_backbone": 1e-4,
                "layer_decay": 0.9,
                "tune_epochs": 6,
                "weight_decay": 1e-3,
            },
            "curve": [{"stage": 0, "epoch": 0, "val_loss": 0.9}]
            + [{"stage": 1, "epoch": e, "val_loss": v} for e, v in enumerate([0.8, 0.6, 0.7, 0.75])],
        }

    class Objective:
        config = TuneConfig(data=tiny_text[0], out=Path("/tmp/unused"))

        def spec_for(self, trial, plan, output_dir):  # noqa: ANN001, ANN202 - a sampled (not rule-plan) trial
            return trial_spec(plan, self.config, "tiny-bert", output_dir, AugmentConfig())

    spec = refit_spec(Trial(), Objective(), Path("/tmp/unused/refit"))  # type: ignore[arg-type]
    assert spec.train_on_val and spec.early_stopping_patience is None and not spec.evaluate_test
    assert [s.converged_head for s in spec.stages] == [True, False]
    assert spec.stages[1].epochs == 2  # the best validation loss came after the second fine-tuning epoch
