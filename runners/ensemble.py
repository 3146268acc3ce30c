"""Weighted ensembles of trained models: greedy selection on validation, export, and prediction.

The selection is Caruana et al., "Ensemble selection from libraries of models" (ICML 2004), with
replacement, as AutoGluon's WeightedEnsemble runs it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runners.errors import RunnerError
from runners.predict import Prediction, Predictor, log_loss, no_probabilities, softmax_rows, top_predictions

ENSEMBLE_CONFIG = "ensemble.json"
RUNNER_NAME = "ensemble"


def _score(probs: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(accuracy, -log-loss): larger is better in both places, compared in that order."""
    return float(np.mean(probs.argmax(axis=1) == y)), -log_loss(probs, y)


def _check_selection_inputs(val_probs: dict[str, np.ndarray], y: np.ndarray, rounds: int) -> None:
    if not val_probs:
        raise ValueError("val_probs is empty; give at least one member's validation probabilities")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    shapes = {name: p.shape for name, p in val_probs.items()}
    first = next(iter(shapes.values()))
    if len(first) != 2 or any(s != first for s in shapes.values()):
        raise ValueError(f"every member needs probabilities of one shape (n, n_classes); got {shapes}")
    if y.shape != (first[0],) or (len(y) and (y.min() < 0 or y.max() >= first[1])):
        raise ValueError(f"y must hold {first[0]} class indices in [0, {first[1]}); got shape {y.shape}")


def greedy_selection(val_probs: dict[str, np.ndarray], y: np.ndarray, rounds: int = 25) -> dict[str, float]:
    """Ensemble selection with replacement; returns the weights of the best-scoring prefix.

    Each round adds (again, possibly) the member whose addition gives the averaged probabilities the
    best validation accuracy; ties go to the lower validation log-loss, then to the first name in
    sorted order. All rounds run; the prefix (rounds 1..k) with the best accuracy, then lowest
    log-loss, then fewest rounds, is kept.

    Args:
        val_probs: Validation probabilities (n, n_classes) per member name, columns in one class order.
        y: True class indices (n,).
        rounds: Number of additions.

    Returns:
        Member name -> times chosen / k for the members chosen at least once in the kept prefix
        (weights sum to 1).

    Raises:
        ValueError: empty `val_probs`, shapes that disagree, labels out of range or `rounds` < 1.
    """
    y = np.asarray(y, dtype=np.int64)
    _check_selection_inputs(val_probs, y, rounds)
    names = sorted(val_probs)
    probs = {name: np.asarray(val_probs[name], dtype=np.float64) for name in names}
    total = np.zeros_like(probs[names[0]])
    counts = dict.fromkeys(names, 0)
    best_score: tuple[float, float] | None = None
    best_counts: dict[str, int] = {}
    for k in range(1, rounds + 1):
        chosen, chosen_score = names[0], None
        for name in names:
            score = _score((total + probs[name]) / k, y)
            if chosen_score is None or score > chosen_score:
                chosen, chosen_score = name, score
        total += probs[chosen]
        counts[chosen] += 1
        assert chosen_score is not None
        if best_score is None or chosen_score > best_score:
            best_score, best_counts = chosen_score, dict(counts)
    size = sum(best_counts.values())
    return {name: count / size for name, count in best_counts.items() if count}


def shared_depth(a: Any, b: Any) -> int:
    """Leading blocks two predictors' models compute identically: 0 unless both prepare inputs alike
    (`input_signature`) and have block adapters; then the count of leading blocks whose parameters and
    buffers are equal, up to `n_blocks` (the whole backbone: only the heads differ)."""
    import torch

    if getattr(a, "adapter", None) is None or getattr(b, "adapter", None) is None:
        return 0
    if a.input_signature() != b.input_signature() or a.adapter.n_blocks != b.adapter.n_blocks:
        return 0
    for i in range(a.adapter.n_blocks):
        mine, theirs = a.adapter.block_state(i), b.adapter.block_state(i)
        same = len(mine) == len(theirs) and all(
            x.shape == y.shape and torch.equal(x, y) for x, y in zip(mine, theirs, strict=True)
        )
        if not same:
            return i
    return a.adapter.n_blocks


class EnsemblePredictor:
    """Weighted average of members' probabilities, each member's columns matched to `class_names` by name.

    Weights are divided by their sum, so the probabilities of each input sum to 1. Members whose
    models share their bottom blocks (a search's head-only trials share the whole frozen backbone; a
    trial that fine-tuned the top k blocks shares the rest) run those blocks once per batch, and
    each member its own top: on ELPV 4 grades the export's three head-only members cost one
    backbone pass instead of three.
    """

    def __init__(
        self,
        members: Sequence[tuple[Predictor, float]],
        class_names: Sequence[str],
        names: Sequence[str] | None = None,
    ) -> None:
        if not members:
            raise RunnerError("an ensemble needs at least one member")
        if names is not None and len(names) != len(members):
            raise RunnerError(f"{len(names)} member names for {len(members)} members")
        modalities = sorted({m.modality for m, _ in members})
        if len(modalities) != 1:
            raise RunnerError(f"ensemble members mix modalities {modalities}; use one modality")
        weights = np.array([w for _, w in members], dtype=np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise RunnerError(f"ensemble weights must be positive and finite, got {weights.tolist()}")
        self.class_names = list(class_names)
        self.modality = modalities[0]
        self.members = [m for m, _ in members]
        self.names = list(names) if names is not None else [f"member{i}" for i in range(len(members))]
        self.weights = weights / weights.sum()
        self._columns = [self._column_order(m) for m in self.members]
        self.groups = self._share_passes()

    def _column_order(self, member: Predictor) -> list[int]:
        if sorted(member.class_names) != sorted(self.class_names):
            raise RunnerError(f"member classes {member.class_names} differ from the ensemble's {self.class_names}")
        index = {c: i for i, c in enumerate(member.class_names)}
        return [index[c] for c in self.class_names]

    def _share_passes(self) -> list[tuple[list[int], int]]:
        """(member indices, blocks they share) per group: each member joins the group that then shares
        the most leading blocks (at least one) without lowering what its members already share, else
        starts its own."""
        groups: list[tuple[list[int], int]] = []
        for i, member in enumerate(self.members):
            best, best_depth = None, 0
            for g, (indices, depth) in enumerate(groups):
                d = shared_depth(self.members[indices[0]], member)
                joined = d if len(indices) == 1 else (depth if d >= depth else 0)
                if joined > best_depth:
                    best, best_depth = g, joined
            if best is None:
                groups.append(([i], 0))
            else:
                groups[best] = (groups[best][0] + [i], best_depth)
        return groups

    def predict_proba(self, inputs: list[Any]) -> np.ndarray:
        """Weighted sum of the members' probabilities, (n, n_classes) float64 in `class_names` order."""
        return self.combine(self.member_probabilities(inputs))

    def member_probabilities(self, inputs: list[Any]) -> list[np.ndarray]:
        """Each member's own probabilities, (n, n_classes) in `class_names` order, members in order
        (shared blocks run once, as for `predict_proba`)."""
        found: dict[int, np.ndarray] = {}
        for indices, depth in self.groups:
            probs = (
                {indices[0]: self.members[indices[0]].predict_proba(inputs)}
                if len(indices) == 1
                else self._shared_pass(inputs, indices, depth)
            )
            for i, p in probs.items():
                found[i] = p[:, self._columns[i]]
        return [found[i] for i in range(len(self.members))]  # every member is in one group

    def combine(self, member_probs: list[np.ndarray]) -> np.ndarray:
        """The ensemble's probabilities from its members' (`member_probabilities`): their weighted sum."""
        total = np.zeros((len(member_probs[0]), len(self.class_names)), dtype=np.float64)
        for weight, p in zip(self.weights, member_probs, strict=True):
            total += weight * p
        return total

    def _shared_pass(self, inputs: list[Any], indices: list[int], depth: int) -> dict[int, np.ndarray]:
        """Each member's probabilities, its first `depth` blocks run once (by the group's first member).

        Members that average over dihedral views score each of their views and average the
        probabilities as `ViewAveraged` does; view `v`'s shared blocks run once for every member
        with more than `v` views, so a fine-tuned member (one view, the image as it is) shares
        view 0 with heads on the rotations: on ELPV binary's export (the rule plan beside two heads
        on 4 rotations) 200 cells took 119 ms each with view 0 run twice, and 94 once
        (`bench/bench_shared_pass.py`).
        """
        import torch

        from runners.views import view_state

        members: list[Any] = [self.members[i] for i in indices]
        for m in members:
            m.model.eval().to(m.device)
        views = {i: getattr(m, "views", 1) for i, m in zip(indices, members, strict=True)}
        chunks: dict[int, list[np.ndarray]] = {i: [] for i in indices}
        with torch.no_grad():
            for state in members[0].batches(inputs):
                summed: dict[int, np.ndarray] = {}
                for view in range(max(views.values())):
                    shared = members[0].adapter.encode(view_state(state, view), 0, depth)
                    for i, m in zip(indices, members, strict=True):
                        if view < views[i]:
                            probs = softmax_rows(m.adapter.forward_from(shared, depth))
                            summed[i] = probs if i not in summed else summed[i] + probs
                for i in indices:
                    chunks[i].append(summed[i] / views[i])
        return {i: np.concatenate([no_probabilities(len(self.members[i].class_names)), *chunks[i]]) for i in indices}

    def predict(self, inputs: list[Any]) -> list[Prediction]:
        """(label, probability) of the most probable class per input."""
        return top_predictions(self.predict_proba(inputs), self.class_names)


def _check_members(members: list[tuple[str, Path, float]]) -> None:
    names = [name for name, _, _ in members]
    if not members:
        raise RunnerError("an ensemble needs at least one member")
    if len(set(names)) != len(names):
        raise RunnerError(f"member names must be unique, got {names}")
    for name, path, weight in members:
        if not name or name in (".", "..", ENSEMBLE_CONFIG) or "/" in name or "\\" in name:
            raise RunnerError(f"member name {name!r} cannot be a folder name")
        if not Path(path).is_dir():
            raise RunnerError(f"member {name!r}: {path} is not an exported model folder")
        if not weight > 0:
            raise RunnerError(f"member {name!r}: weight must be positive, got {weight}")


def export_ensemble(members: list[tuple[str, Path, float]], class_names: list[str], out_dir: Path) -> Path:
    """Copies each member's model folder into `out_dir/<name>/` and writes `out_dir/ensemble.json`.

    The folder is assembled in a temporary sibling and renamed into place, so an interrupted export
    leaves any previous `out_dir` untouched and never a half-written one.

    Args:
        members: (name, exported model folder, weight) per member.
        class_names: The ensemble's class order.
        out_dir: Destination folder; replaced if it exists.

    Raises:
        RunnerError: no members, repeated or unusable names, a missing folder or a weight <= 0.
    """
    _check_members(members)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        for name, path, _ in members:
            shutil.copytree(path, staging / name)
        config = {
            "runner": RUNNER_NAME,
            "label_names": list(class_names),
            "members": [{"name": name, "path": name, "weight": float(weight)} for name, _, weight in members],
        }
        (staging / ENSEMBLE_CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
        _replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _replace(staging: Path, out_dir: Path) -> None:
    """Renames `staging` to `out_dir`; an existing `out_dir` is moved aside first and deleted after."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.{uuid.uuid4().hex}.old")
    out_dir.rename(old)
    try:
        staging.rename(out_dir)
    except BaseException:
        old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def load_ensemble(model_dir: str | Path, device: str = "cpu") -> EnsemblePredictor:
    """Loads a folder written by `export_ensemble`; members load with `runners.predict.load_predictor`.

    Raises:
        RunnerError: no `ensemble.json`, or a member path outside the folder.
    """
    from runners.predict import load_predictor

    model_dir = Path(model_dir)
    config_path = model_dir / ENSEMBLE_CONFIG
    if not config_path.exists():
        raise RunnerError(f"{model_dir}: no {ENSEMBLE_CONFIG}; not an exported ensemble")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    root = model_dir.resolve()
    members: list[tuple[Predictor, float]] = []
    names: list[str] = []
    for entry in config["members"]:
        path = (model_dir / entry["path"]).resolve()
        if root not in path.parents:
            raise RunnerError(f"{config_path}: member path {entry['path']!r} leaves the ensemble folder")
        members.append((load_predictor(path, device), float(entry["weight"])))
        names.append(str(entry["name"]))
    return EnsemblePredictor(members, config["label_names"], names)
