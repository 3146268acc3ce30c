"""`profile_dataset`: a dataset read once, its problems found, its similarity and backbone fit measured."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

from advisor.engine.loader import load_rulebook
from advisor.engine.rulebook import RuleBook
from advisor.profile import DatasetProfile, Hardware, Modality, Priority
from advisor.profiling.evidence import Evidence, ProfileReport, TextStats
from advisor.profiling.scan import Scanned, find_duplicates, image_stats, scan_memory, scan_path
from advisor.recommendation import FiredRule
from runners.errors import BackboneError, DataError
from runners.specs import InMemoryData

if TYPE_CHECKING:
    from advisor.profiling.evidence import Measured
    from advisor.profiling.progress import Progress
    from runners.runner import FrozenFeatures

# Problems named in the error of a dataset that cannot be profiled at all (the rest are counted).
_PROBLEMS_IN_ERROR = 20


def candidate_backbones(modality: Modality, requested: str | None, book: RuleBook) -> list[str]:
    """The requested backbone; else every one loadable offline (packaged weights fastest first, then the hub
    cache); else the selection guide's pick."""
    if requested:
        return [requested]
    from runners import cached_hub_backbones, offline_backbones

    offline = [entry["name"] for entry in offline_backbones(modality)]
    offline += [name for name in cached_hub_backbones(modality) if name not in offline]
    if offline:
        return offline
    default = DatasetProfile(modality=modality, n_examples=2, n_classes=2)
    from advisor.engine.recommend import recommend

    return [recommend(default, book).backbone.model_id]


def profile_dataset(
    data: Path | str | InMemoryData,
    *,
    modality: Modality | None = None,
    measure_similarity: bool = True,
    backbone: str | None = None,
    weights: str | None = None,
    priority: Priority = "balanced",
    hardware: Hardware = "cpu",
    sample: int | None = None,
    text_column: str = "text",
    label_column: str = "label",
    encoding: str = "utf-8",
    max_length: int = 128,
    device: str = "cpu",
    rules: RuleBook | Path | str | None = None,
    progress: Progress | None = None,
) -> ProfileReport:
    """Profiles a dataset on disk (image folder, CSV/TSV/JSONL table, text folder) or in memory.

    Args:
        data: The dataset; `InMemoryData` needs `modality`.
        measure_similarity: Run the frozen backbone(s) over a sample to measure similarity and fit.
            Without it the profile has counts and problems only, and similarity stays "similar".
        backbone: Measure against this backbone only; default: every offline one, ranked.
        sample: Examples measured (default: the rules' `sample`).
        max_length: Token length the runners truncate to (text).
        progress: Called with (stage, done, total) during long steps.

    Raises:
        DataError: the layout is unusable (path, columns, fewer than two readable classes).
        RulesError: `rules` names a malformed rules directory.
    """
    start = time.perf_counter()
    book = rules if isinstance(rules, RuleBook) else load_rulebook(rules)
    if isinstance(data, InMemoryData):
        if modality is None:
            raise DataError("in-memory data needs modality='image' or 'text'")
        scanned = scan_memory(data, modality)
    else:
        scanned = scan_path(
            data,
            modality,
            text_column,
            label_column,
            encoding,
            progress=(lambda done, total: progress("reading files", done, total)) if progress else None,
        )
    per_class = scanned.per_class
    if len(per_class) < 2:
        problems = [*scanned.layout_problems, *scanned.corrupted]
        listed = "".join(f"\n  {p.path}: {p.reason}" for p in problems[:_PROBLEMS_IN_ERROR])
        more = f"\n  … and {len(problems) - _PROBLEMS_IN_ERROR} more" if len(problems) > _PROBLEMS_IN_ERROR else ""
        raise DataError(
            f"{scanned.source}: need at least 2 classes with readable examples, found {sorted(per_class)}"
            + (f"; problems found:{listed}{more}" if problems else "")
        )
    notes: list[str] = []
    candidates = candidate_backbones(scanned.modality, backbone, book)
    text = None
    if scanned.modality == "text":
        text = _text_stats([str(t) for t in scanned.inputs], candidates[0], weights, max_length, notes)
    measured = None
    if measure_similarity:
        try:
            measured = measure_sample(
                scanned.inputs,
                scanned.labels,
                scanned.modality,
                candidates,
                book,
                priority=priority,
                text=text,
                sample=sample,
                device=device,
                max_length=max_length,
                weights=weights,
                progress=progress,
            )
        except BackboneError as exc:
            notes.append(f"similarity not measured (assumed 'similar'): {exc}")
    else:
        notes.append("similarity not measured (asked not to): 'similar' is the tutorial's most common case")
    duplicates = find_duplicates(scanned)
    near = find_duplicates(scanned, near=True) if scanned.modality == "image" else None
    images = image_stats(scanned)
    smallest, largest = min(per_class.values()), max(per_class.values())
    facts = {
        "n_corrupted": len(scanned.corrupted),
        "n_layout_problems": len(scanned.layout_problems),
        "n_duplicate_groups": duplicates.n_groups,
        "n_duplicate_extra": duplicates.n_extra_copies,
        "n_leaked_groups": duplicates.n_leaked_groups,
        "n_label_conflicts": duplicates.n_label_conflicts,
        "n_near_duplicate_groups": near.n_groups if near else None,
        "n_near_leaked_groups": near.n_leaked_groups if near else None,
        "truncation_rate": text.truncation_rate if text else None,
        "grayscale_share": images.grayscale_share if images else None,
        "min_side": min(images.width[0], images.height[0]) if images else None,
        "imbalance_ratio": largest / smallest,
        "probe_gain": measured.similarity.probe_gain if measured and measured.similarity else None,
    }
    findings = tuple(
        FiredRule(rule=rule.id, reason=rule.message, section=rule.section) for rule in book.profiling.findings(facts)
    )
    profile = DatasetProfile(
        modality=scanned.modality,
        n_examples=len(scanned.labels),
        n_classes=len(per_class),
        smallest_class=smallest,
        largest_class=largest,
        similarity=measured.similarity.level if measured and measured.similarity else "similar",
        priority=priority,
        hardware=hardware,
        input_size=_typical_side(scanned) if images else None,
    )
    evidence = Evidence(
        source=scanned.source,
        modality=scanned.modality,
        per_class=per_class,
        presplit=scanned.presplit,
        imbalance_ratio=largest / smallest,
        corrupted=tuple(scanned.corrupted),
        layout_problems=tuple(scanned.layout_problems),
        duplicates=duplicates,
        near_duplicates=near,
        images=images,
        text=text,
        **(dict(measured) if measured else {}),
        notes=tuple(notes),
        findings=findings,
        seconds=time.perf_counter() - start,
    )
    return ProfileReport(profile=profile, evidence=evidence)


def _typical_side(scanned: Scanned) -> int:
    """Median shorter side: what the "wrong input size" warning compares with 224."""
    sides = sorted(min(w, h) for w, h, _ in scanned.image_meta)
    return int(sides[len(sides) // 2])


def _text_stats(
    texts: list[str], backbone: str, weights: str | None, max_length: int, notes: list[str]
) -> TextStats | None:
    from advisor.profiling.text_stats import text_stats
    from runners.backbones.build import load_tokenizer

    try:
        tokenizer = load_tokenizer(backbone, weights)
    except BackboneError as exc:
        notes.append(f"token statistics skipped: {exc}")
        return None
    return text_stats(texts, tokenizer, max_length)


def measure_sample(
    inputs: list,
    labels: list[str],
    modality: Modality,
    candidates: list[str],
    book: RuleBook,
    *,
    priority: Priority = "balanced",
    text: TextStats | None = None,
    sample: int | None = None,
    device: str = "cpu",
    max_length: int = 128,
    weights: str | None = None,
    progress: Progress | None = None,
    frozen: FrozenFeatures | None = None,
) -> Measured:
    """Measured similarity and backbone fit on a stratified sample of labelled examples.

    Token statistics for the text rules come from `text` when given, else from the sample. With
    `frozen` (a pass that chose its own examples, `Runner.frozen_pass`) the only candidate is
    scored on that pass's examples and nothing is run again.

    Raises:
        BackboneError: a candidate backbone cannot be built.
    """
    from advisor.profiling.similarity import measure
    from runners.data.splits import stratified_subset

    if frozen is not None and frozen.inputs is not None and frozen.labels is not None:
        # The pass covers every clean example (it fills the cache the first head fit reads); the
        # probes score a stratified sample of it, as for any other backbone: their cost grows with
        # the examples (on ELPV, all 1,968 made setup take 445 s of a 600 s budget).
        keep = stratified_subset(frozen.labels, sample or book.profiling.sample, seed=0, min_per_class=2)
        picked, picked_labels = [frozen.inputs[i] for i in keep], [frozen.labels[i] for i in keep]
        if len(keep) < len(frozen.labels):
            frozen = dataclasses.replace(frozen, features=frozen.features[keep], inputs=picked, labels=picked_labels)
    else:
        # at least 2 per class: the probes cross-validate
        idx = stratified_subset(labels, sample or book.profiling.sample, seed=0, min_per_class=2)
        picked, picked_labels = [inputs[i] for i in idx], [labels[i] for i in idx]
    if modality == "text" and text is None:
        text = _text_stats([str(t) for t in picked], candidates[0], weights, max_length, [])
    return measure(
        picked,
        picked_labels,
        modality,
        candidates,
        book.profiling,
        priority=priority,
        text=text,
        device=device,
        max_length=max_length,
        weights=weights,
        progress=progress,
        passes={candidates[0]: frozen} if frozen is not None else None,
    )
