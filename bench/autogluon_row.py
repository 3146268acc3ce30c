"""The AutoGluon row of `bench/bench_peers.py`: `MultiModalPredictor` on the bench's pre-split folder.

AutoGluon's multimodal predictor pins its own torch, transformers and timm, which this project's
environment does not satisfy, so `bench_peers.py` runs this file in AutoGluon's own environment
(`--autogluon-python`) and reads the last line it prints (JSON: val, test, trials, note). It imports
nothing from this project. Everything is AutoGluon's default for the problem (its fine-tuning
recipe, its validation-based checkpoint selection and averaging) except what keeps the comparison
fair: the same backbone as `advisor auto` from local weights (no hub here), the bench's train and
validation splits (`tuning_data`), `time_limit` the row's budget, CPU only. The environment the
README's rows ran in, made on this machine (AutoGluon 1.6.3 pins torch < 2.14; the CPU build of
torch 2.13 on this disk satisfies the pin for the install, but the index's torchvision 0.28 fails on
it, "operator torchvision::nms does not exist", so torch 2.14.1 is put back over the pin, with its
CUDA libraries linked from this project's environment):

    python3.11 -m venv /tmp/agv
    /tmp/agv/bin/pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
    /tmp/agv/bin/pip install autogluon.multimodal
    /tmp/agv/bin/pip install --no-deps torch==2.14.1 torchvision==0.29.1
    for n in nvidia cuda triton; do ln -s "$PWD/.venv/lib/python3.11/site-packages/$n" /tmp/agv/lib/python3.11/site-packages/; done

Run by `bench_peers.py --rows AutoGluon --autogluon-python /tmp/agv/bin/python`, not by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TEXT_SUFFIX = ".txt"


def split_frame(data: Path, split: str, modality: str):  # noqa: ANN201 - a pandas DataFrame
    """The split's examples as AutoGluon reads them: a text or an image-path column and a label."""
    import pandas as pd

    files = sorted(p for p in (data / split).glob("*/*") if p.is_file())
    if modality == "text":
        column = [p.read_text(encoding="utf-8") for p in files if p.suffix == TEXT_SUFFIX]
        labels = [p.parent.name for p in files if p.suffix == TEXT_SUFFIX]
        return pd.DataFrame({"text": column, "label": labels})
    return pd.DataFrame({"image": [str(p.resolve()) for p in files], "label": [p.parent.name for p in files]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="train/val/test/<class>/<file>")
    parser.add_argument("--modality", choices=("text", "image"), required=True)
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="text: a Hugging Face model folder; image: a folder with timm's pytorch_model.bin and config.json",
    )
    parser.add_argument("--time-limit", type=float, required=True, help="seconds for `fit`")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()

    from autogluon.multimodal import MultiModalPredictor

    train, val, test = (split_frame(args.data, s, args.modality) for s in ("train", "val", "test"))
    model = "hf_text" if args.modality == "text" else "timm_image"
    problem = "binary" if train["label"].nunique() == 2 else "multiclass"
    predictor = MultiModalPredictor(
        label="label", problem_type=problem, eval_metric="accuracy", path=str(args.workdir), verbosity=2
    )
    predictor.fit(
        train,
        tuning_data=val,
        time_limit=args.time_limit,
        seed=args.seed,
        hyperparameters={
            "model.names": [model],
            f"model.{model}.checkpoint_name": args.checkpoint,
            "env.num_gpus": 0,
        },
    )
    score = {
        name: float(predictor.evaluate(frame, metrics=["accuracy"])["accuracy"])
        for name, frame in (("val", val), ("test", test))
    }
    print(json.dumps({**score, "trials": 1, "note": f"{model}, AutoGluon's defaults"}), flush=True)


if __name__ == "__main__":
    main()
