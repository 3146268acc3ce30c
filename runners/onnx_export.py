"""ONNX export of an exported model folder: `model.onnx` with its preprocessing in `preprocessing.json` beside it.

* Image (timm): one graph `pixel_values` (N, 3, H, W) float32 -> `logits` (N, C). The JSON holds what
  turns a picture into `pixel_values`: RGB, resize of the shorter side, centre crop, /255, mean/std.
* Text (Hugging Face; masked-mean pooling and the classifier, as the runners train it): `input_ids`,
  `attention_mask` (N, L) int64 -> `logits` (N, C); the tokenizer files and `max_length` are written beside it.
* Ensemble: every member (all neural) is exported to a sub-folder of its own; `preprocessing.json`
  holds the weights, and the ensemble's probabilities are the weighted mean of the members' softmaxes.
* TF-IDF linear model or pixel kernel model (`runners.pixels`), or an ensemble holding one: refused
  (`OnnxExportError` names the member): neither has an ONNX form here.

Batch (and sequence) axes are dynamic. Probabilities are the softmax of `logits`, as `runners.predict`
computes them. `export_onnx` reloads the written folder with onnxruntime (`load_onnx_predictor`),
checks it against `runners.predict.load_predictor` on the given inputs (every probability within
`PROBA_ATOL`), and measures CPU latency per example.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from runners.errors import RunnerError
from runners.predict import Prediction, softmax, top_predictions

ONNX_FILE = "model.onnx"
PREPROCESSING_FILE = "preprocessing.json"
# Default output folder, inside the model folder.
ONNX_DIR = "onnx"
# Largest |probability difference| allowed between onnxruntime and PyTorch (float32 graphs; softmax in float64).
PROBA_ATOL = 1e-4
# Single-example runs timed for the latency (after one warm-up run).
LATENCY_RUNS = 20
# Examples made up for the check when no inputs are given.
N_GENERATED = 16
# onnxruntime threads: one, so the latency says what one CPU core does (a phone core does less).
ORT_THREADS = 1


class OnnxExportError(RunnerError):
    """The folder cannot be exported to ONNX (not a model, a TF-IDF model, an unusable output folder)."""


@dataclass(frozen=True)
class OnnxCheck:
    """onnxruntime against PyTorch (`load_predictor`) on the same inputs."""

    n_examples: int
    generated: bool  # True: made-up inputs (no data given)
    max_abs_diff: float
    same_labels: int
    tolerance: float = PROBA_ATOL

    @property
    def passed(self) -> bool:
        """Every probability within `tolerance` (labels may then differ only where two classes tie within it)."""
        return self.max_abs_diff <= self.tolerance


@dataclass(frozen=True)
class OnnxExport:
    """What `export_onnx` wrote and measured."""

    out_dir: Path
    kind: str  # "image", "text" or "ensemble"
    onnx_files: list[Path]
    size_bytes: int
    latency_ms: float  # median per example: model only, batch 1, ORT_THREADS CPU thread(s)
    check: OnnxCheck
    members: list[str] = field(default_factory=list)  # ensemble member names (sub-folders); [] for one model

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (paths as strings)."""
        return {
            "out_dir": str(self.out_dir),
            "kind": self.kind,
            "onnx_files": [str(p) for p in self.onnx_files],
            "size_bytes": self.size_bytes,
            "latency_ms": round(self.latency_ms, 3),
            "latency_setting": f"model only, batch 1, {ORT_THREADS} CPU thread, median of {LATENCY_RUNS} runs",
            "members": self.members,
            "check": {
                "n_examples": self.check.n_examples,
                "generated_inputs": self.check.generated,
                "max_abs_diff": self.check.max_abs_diff,
                "same_labels": self.check.same_labels,
                "tolerance": self.check.tolerance,
                "passed": self.check.passed,
            },
        }


# --- export -------------------------------------------------------------------------------------------


def _dynamic_export(module: Any, args: tuple[Any, ...], path: Path, names: list[str], dims: list[dict]) -> None:
    """`torch.onnx.export` with the torch.export-based exporter (needs onnxscript), weights inside the file."""
    module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # One Dim object shared by several inputs is one axis; the exporter says so once per input.
        warnings.filterwarnings("ignore", message=r".*axis name.*will not be used", category=UserWarning)
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamo=True,
            dynamic_shapes=tuple(dims),
            external_data=False,
            optimize=True,
            verbose=False,
        )


def _export_image(predictor: Any, out_dir: Path) -> dict[str, Any]:
    from runners.transforms import eval_resize

    cfg = predictor.data_cfg
    size = int(cfg["input_size"])
    batch = torch.export.Dim("batch", min=1)
    example = torch.zeros(2, 3, size, size)
    # The graph holds the views (`ViewAveraged`): its logits are the log of the averaged probabilities.
    _dynamic_export(predictor.scorer.cpu(), (example,), out_dir / ONNX_FILE, ["pixel_values"], [{0: batch}])
    output: dict[str, Any] = {"shape": ["batch", len(predictor.class_names)], "probabilities": "softmax"}
    if predictor.views > 1:
        output["views"] = f"log of the softmax averaged over {predictor.views} dihedral views, inside the graph"
    return {
        "kind": "image",
        "onnx_file": ONNX_FILE,
        "inputs": {"pixel_values": {"shape": ["batch", 3, size, size], "dtype": "float32"}},
        "output": {"logits": output},
        "class_names": list(predictor.class_names),
        "image": {
            "color": "RGB",
            "layout": "NCHW",
            "resize_shorter_side": eval_resize(size, cfg),
            "interpolation": cfg.get("interpolation", "bilinear"),
            "center_crop": size,
            "scale": "1/255",
            "mean": [float(m) for m in cfg["mean"]],
            "std": [float(s) for s in cfg["std"]],
            "input_size": size,
            "crop_pct": float(cfg.get("crop_pct", 1.0)),
        },
    }


class _TextLogits(nn.Module):
    """input_ids, attention_mask -> logits through the runners' adapter (masked mean + classifier)."""

    def __init__(self, model: nn.Module) -> None:
        from runners.backbones.registry import adapter_for

        super().__init__()
        self.model = model  # registered, so its weights are the graph's
        self.adapter = adapter_for(model)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.adapter.forward_from((input_ids, attention_mask), 0)


def _export_text(predictor: Any, out_dir: Path) -> dict[str, Any]:
    max_length = int(predictor.max_length)
    batch = torch.export.Dim("batch", min=1)
    sequence = torch.export.Dim("sequence", min=1, max=max_length)
    length = min(8, max_length)
    ids = torch.ones(2, length, dtype=torch.long)
    mask = torch.ones(2, length, dtype=torch.long)
    module = _TextLogits(predictor.model.cpu())
    dims = [{0: batch, 1: sequence}, {0: batch, 1: sequence}]
    _dynamic_export(module, (ids, mask), out_dir / ONNX_FILE, ["input_ids", "attention_mask"], dims)
    written = predictor.tokenizer.save_pretrained(str(out_dir))
    return {
        "kind": "text",
        "onnx_file": ONNX_FILE,
        "inputs": {
            "input_ids": {"shape": ["batch", "sequence"], "dtype": "int64"},
            "attention_mask": {"shape": ["batch", "sequence"], "dtype": "int64"},
        },
        "output": {"logits": {"shape": ["batch", len(predictor.class_names)], "probabilities": "softmax"}},
        "class_names": list(predictor.class_names),
        "text": {
            "tokenizer_files": sorted(Path(p).name for p in written if Path(p).exists()),
            "max_length": max_length,
            "truncation": True,
            "padding": "longest in the batch; attention_mask 0 on padding",
        },
    }


def _neural_kind(predictor: Any, what: str) -> str:
    from runners.predict import ImagePredictor, TextPredictor

    if isinstance(predictor, ImagePredictor):
        return "image"
    if isinstance(predictor, TextPredictor):
        return "text"
    kinds = {"text": "a TF-IDF linear model (scikit-learn)", "image": "a kernel model on raw pixels"}
    kind = kinds.get(getattr(predictor, "modality", ""), type(predictor).__name__)
    raise OnnxExportError(
        f"{what} is {kind}, which has no ONNX export here; export a neural model folder instead "
        "(an image or transformer text model, e.g. a trial's model/ folder)"
    )


def _export_single(predictor: Any, out_dir: Path, what: str) -> dict[str, Any]:
    kind = _neural_kind(predictor, what)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = _export_image(predictor, out_dir) if kind == "image" else _export_text(predictor, out_dir)
    (out_dir / PREPROCESSING_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def _member_names(model_dir: Path) -> list[str]:
    from runners.ensemble import ENSEMBLE_CONFIG

    config = json.loads((model_dir / ENSEMBLE_CONFIG).read_text(encoding="utf-8"))
    return [str(entry["name"]) for entry in config["members"]]


def _export_ensemble(predictor: Any, names: list[str], out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, member in zip(names, predictor.members, strict=True):
        _export_single(member, out_dir / name, f"ensemble member {name!r}")
    meta = {
        "kind": "ensemble",
        "class_names": list(predictor.class_names),
        "combine": "weighted mean of the members' softmax probabilities, columns matched by class name",
        "members": [
            {"name": name, "path": name, "weight": float(w)} for name, w in zip(names, predictor.weights, strict=True)
        ],
    }
    (out_dir / PREPROCESSING_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def _prepare_out_dir(out_dir: Path, model_dir: Path) -> None:
    """An earlier export in `out_dir` is replaced; any other non-empty folder is refused."""
    if out_dir.resolve() == model_dir.resolve():
        raise OnnxExportError(f"{out_dir}: the output folder must not be the model folder itself")
    if out_dir.is_file():
        raise OnnxExportError(f"{out_dir}: is a file; give a folder for the ONNX export")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / PREPROCESSING_FILE).is_file():
            raise OnnxExportError(f"{out_dir}: exists and is not an earlier ONNX export; choose another output folder")
        shutil.rmtree(out_dir)


def export_onnx(
    model_dir: str | Path,
    out_dir: str | Path | None = None,
    inputs: list[Any] | Callable[[str], list[Any]] | None = None,
    tolerance: float = PROBA_ATOL,
) -> OnnxExport:
    """Writes the ONNX form of an exported model folder and checks it with onnxruntime.

    Args:
        model_dir: A folder written by `runners.export` / `runners.ensemble` (what `load_predictor` loads).
        out_dir: Where to write; default `model_dir/onnx`. An earlier export there is replaced.
        inputs: Examples to check on (what the model's `predict` takes: image paths/arrays or texts), or
            a function of the model's modality ("image" / "text") returning them; None: `N_GENERATED`
            made-up ones (random images, texts of vocabulary words).
        tolerance: Largest |probability difference| the check accepts.

    Returns:
        Files, total size of the `.onnx` files, latency per example and the check (which may have failed:
        look at `check.passed`).

    Raises:
        OnnxExportError: not a model folder, a TF-IDF model (or an ensemble with one), an unusable `out_dir`.
    """
    from runners.ensemble import EnsemblePredictor
    from runners.predict import load_predictor

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise OnnxExportError(f"{model_dir}: no such model folder")
    try:
        predictor: Any = load_predictor(model_dir)  # an ensemble's members are read below
    except (RunnerError, OSError, ValueError, KeyError) as exc:
        raise OnnxExportError(f"{model_dir}: not a model folder this tool exported ({exc})") from exc
    out = Path(out_dir) if out_dir is not None else model_dir / ONNX_DIR
    ensemble = isinstance(predictor, EnsemblePredictor)
    names = _member_names(model_dir) if ensemble else []
    # Refuse a TF-IDF model (or member) before anything is written.
    if ensemble:
        for name, member in zip(names, predictor.members, strict=True):
            _neural_kind(member, f"ensemble member {name!r} of {model_dir}")
    else:
        _neural_kind(predictor, str(model_dir))
    if callable(inputs):  # expanded before anything is written: a bad input argument leaves no files
        inputs = inputs(predictor.modality)
    generated = inputs is None
    examples = list(inputs) if inputs is not None else generated_inputs(predictor)
    _prepare_out_dir(out, model_dir)
    if ensemble:
        meta = _export_ensemble(predictor, names, out)
    else:
        meta = _export_single(predictor, out, str(model_dir))
    onnx = load_onnx_predictor(out)
    check = compare(predictor.predict_proba(examples), onnx.predict_proba(examples), tolerance, generated)
    files = sorted(out.rglob("*.onnx"))
    return OnnxExport(
        out_dir=out,
        kind=str(meta["kind"]),
        onnx_files=files,
        size_bytes=sum(p.stat().st_size for p in files),
        latency_ms=onnx.latency_ms(examples),
        check=check,
        members=names,
    )


def compare(reference: np.ndarray, onnx: np.ndarray, tolerance: float, generated: bool = False) -> OnnxCheck:
    """Largest |probability difference| and how many top labels agree."""
    if reference.shape != onnx.shape:
        raise OnnxExportError(f"onnxruntime gave probabilities of shape {onnx.shape}, PyTorch {reference.shape}")
    diff = float(np.abs(reference - onnx).max()) if reference.size else 0.0
    same = int((reference.argmax(1) == onnx.argmax(1)).sum()) if len(reference) else 0
    return OnnxCheck(
        n_examples=len(reference), generated=generated, max_abs_diff=diff, same_labels=same, tolerance=tolerance
    )


def generated_inputs(predictor: Any, n: int = N_GENERATED, seed: int = 0) -> list[Any]:
    """Made-up examples the model takes: random RGB images a little larger than its input, or texts of
    4-12 words drawn from its tokenizer's vocabulary (every member of an ensemble reads the same kind)."""
    rng = np.random.default_rng(seed)
    if getattr(predictor, "members", None):
        predictor = predictor.members[0]
    if predictor.modality == "image":
        side = int(predictor.data_cfg["input_size"]) + 8
        return [rng.integers(0, 256, (side, side + 4, 3), dtype=np.uint8) for _ in range(n)]
    vocab = sorted(w for w in predictor.tokenizer.get_vocab() if w.isalpha() and w.isascii() and len(w) > 1)
    if not vocab:
        vocab = ["text"]
    return [" ".join(rng.choice(vocab, size=int(rng.integers(4, 13))).tolist()) for _ in range(n)]


# --- onnxruntime predictors ---------------------------------------------------------------------------


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = ORT_THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxPredictor:
    """A `Predictor` over one exported ONNX folder, preprocessing rebuilt from `preprocessing.json` alone."""

    def __init__(self, onnx_dir: Path, meta: dict[str, Any], batch_size: int = 32) -> None:
        self.class_names: list[str] = list(meta["class_names"])
        self.modality: str = meta["kind"]
        self.meta, self.batch_size = meta, batch_size
        self.session = _session(onnx_dir / meta["onnx_file"])
        if self.modality == "image":
            from runners.transforms import eval_transform

            image = meta["image"]
            cfg = {k: image[k] for k in ("mean", "std", "interpolation", "crop_pct")}
            self.transform = eval_transform(int(image["input_size"]), cfg)
        else:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(onnx_dir), trust_remote_code=False)
            self.max_length = int(meta["text"]["max_length"])

    def feeds(self, inputs: list[Any]) -> dict[str, np.ndarray]:
        """The graph's inputs for a batch of examples."""
        if self.modality == "image":
            from runners.data.images import to_rgb

            pixels = [self.transform(to_rgb(item)).numpy() for item in inputs]
            return {"pixel_values": np.stack(pixels).astype(np.float32)}
        enc = self.tokenizer(
            list(inputs), truncation=True, max_length=self.max_length, padding=True, return_tensors="np"
        )
        return {name: np.asarray(enc[name], dtype=np.int64) for name in ("input_ids", "attention_mask")}

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Logits (n, n_classes)."""
        return np.asarray(self.session.run(["logits"], feeds)[0])

    def predict_proba(self, inputs: list[Any]) -> np.ndarray:
        """Softmax of the ONNX logits, (n, n_classes) float64 in `class_names` order."""
        chunks = [np.zeros((0, len(self.class_names)), dtype=np.float64)]
        for i in range(0, len(inputs), self.batch_size):
            chunks.append(softmax(self.run(self.feeds(inputs[i : i + self.batch_size]))))
        return np.concatenate(chunks)

    def predict(self, inputs: list[Any]) -> list[Prediction]:
        """(label, probability) of the most probable class per input."""
        return top_predictions(self.predict_proba(inputs), self.class_names)

    def run_seconds(self, example: Any) -> float:
        """Seconds one batch-1 run of the graph takes on `example` (preprocessing not counted)."""
        feeds = self.feeds([example])
        start = time.perf_counter()
        self.run(feeds)
        return time.perf_counter() - start

    def latency_ms(self, examples: list[Any], runs: int = LATENCY_RUNS) -> float:
        """Median milliseconds per example over `runs` batch-1 runs (after a warm-up), cycling over `examples`."""
        return _median_ms([self], examples, runs)


class OnnxEnsemble:
    """An exported ensemble's ONNX members, combined as `runners.ensemble.EnsemblePredictor` combines them."""

    def __init__(self, members: list[tuple[OnnxPredictor, float]], class_names: list[str]) -> None:
        from runners.ensemble import EnsemblePredictor

        self.onnx_members = [m for m, _ in members]
        self.ensemble = EnsemblePredictor(members, class_names)
        self.class_names, self.modality = self.ensemble.class_names, self.ensemble.modality

    def predict_proba(self, inputs: list[Any]) -> np.ndarray:
        """Weighted mean of the members' probabilities, (n, n_classes) float64."""
        return self.ensemble.predict_proba(inputs)

    def predict(self, inputs: list[Any]) -> list[Prediction]:
        """(label, probability) of the most probable class per input."""
        return self.ensemble.predict(inputs)

    def latency_ms(self, examples: list[Any], runs: int = LATENCY_RUNS) -> float:
        """Median milliseconds per example, every member's run counted."""
        return _median_ms(self.onnx_members, examples, runs)


def _median_ms(models: list[OnnxPredictor], examples: list[Any], runs: int) -> float:
    if not examples:
        return float("nan")
    for model in models:
        model.run_seconds(examples[0])  # warm-up: first runs allocate
    times = [sum(m.run_seconds(examples[i % len(examples)]) for m in models) for i in range(runs)]
    return 1000 * statistics.median(times)


def _read_meta(onnx_dir: Path) -> dict[str, Any]:
    path = onnx_dir / PREPROCESSING_FILE
    if not path.is_file():
        raise OnnxExportError(f"{onnx_dir}: no {PREPROCESSING_FILE}; not an ONNX export folder")
    return json.loads(path.read_text(encoding="utf-8"))


def load_onnx_predictor(onnx_dir: str | Path) -> OnnxPredictor | OnnxEnsemble:
    """Loads a folder written by `export_onnx` for prediction with onnxruntime (no PyTorch model involved).

    Raises:
        OnnxExportError: no `preprocessing.json`, or a member path outside the folder.
    """
    onnx_dir = Path(onnx_dir)
    meta = _read_meta(onnx_dir)
    if meta["kind"] != "ensemble":
        return OnnxPredictor(onnx_dir, meta)
    root = onnx_dir.resolve()
    members: list[tuple[OnnxPredictor, float]] = []
    for entry in meta["members"]:
        path = (onnx_dir / entry["path"]).resolve()
        if root not in path.parents:
            raise OnnxExportError(f"{onnx_dir}: member path {entry['path']!r} leaves the folder")
        members.append((OnnxPredictor(path, _read_meta(path)), float(entry["weight"])))
    return OnnxEnsemble(members, list(meta["class_names"]))
