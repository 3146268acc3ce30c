"""Schemas of the knowledge files in `rules/`: each YAML file validates into one model here.

Validation is strict (unknown keys, unknown condition fields, gaps or overlaps in data-size
bands are refused) so that a malformed rules file fails at load time, never mid-recommendation.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from advisor.engine.conditions import Condition, all_hold, unknown_fields
from advisor.profile import Modality, Similarity
from advisor.recommendation import AugmentOp, Strategy

_STRICT = ConfigDict(extra="forbid", frozen=True)

PROFILE_FIELDS = frozenset(
    {
        "modality",
        "task",
        "n_examples",
        "n_classes",
        "examples_per_class",
        "smallest_class",
        "largest_class",
        "imbalance_ratio",
        "similarity",
        "priority",
        "hardware",
        "input_size",
    }
)
DECISION_FIELDS = PROFILE_FIELDS | {"strategy", "trainable_fraction", "rung"}
SCHEDULE_FIELDS = frozenset({"modality", "task", "similarity", "strategy", "trainable_fraction"})
LR_FIELDS = frozenset({"modality", "task", "similarity", "strategy", "stage_fraction"})
TRIAL_FIELDS = frozenset(
    {
        "status",
        "train_accuracy",
        "val_accuracy",
        "train_val_gap",
        "val_loss_rose",
        "trainable_fraction",
        "n_examples",
        "augmentation",
        "modality",
        "smallest_stage_gain",
        "head_converged",
        "lr_backbone",
        "input_size",
        "pretrained_input_size",
        "native_image_size",
        "input_scale",
        "upscale_factor",
        "shallower_trial_did_better",
        "retry_repeated_mistake",
        "dropped_at_full_rate",
        "dropped_at_cut_rate",
        "cut_rate_trial",
    }
)


def _check_fields(conditions: Sequence[Condition], known: Iterable[str]) -> None:
    bad = unknown_fields(conditions, set(known))
    if bad:
        raise ValueError(f"unknown condition field(s) {bad}; allowed: {sorted(known)}")


def _check_unique_ids(ids: Iterable[str], what: str) -> None:
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    if dupes:
        raise ValueError(f"duplicate {what} id(s): {dupes}")


class Band(BaseModel):
    """A half-open range [low, high) of a count; high None means unbounded."""

    model_config = _STRICT

    id: str
    range: tuple[float, float | None]
    max_fraction: float = Field(ge=0.0, le=1.0)
    reason: str

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float | None]) -> tuple[float, float | None]:
        low, high = value
        if low < 0 or (high is not None and high <= low):
            raise ValueError(f"range {list(value)} must satisfy 0 <= low < high")
        return value

    def contains(self, x: float) -> bool:
        low, high = self.range
        return low <= x and (high is None or x < high)


class Cap(BaseModel):
    """A data-size table: each band caps the share of layers the data can afford to train."""

    model_config = _STRICT

    id: str
    field: Literal["examples_per_class", "n_examples"]
    section: str
    bands: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _bands_tile_the_line(self) -> Cap:
        _check_unique_ids((b.id for b in self.bands), "band")
        ordered = sorted(self.bands, key=lambda b: b.range[0])
        if ordered[0].range[0] != 0:
            raise ValueError(
                f"band {ordered[0].id!r} starts at {ordered[0].range[0]:g}: values below it get no decision"
            )
        for below, above in zip(ordered, ordered[1:], strict=False):
            high = below.range[1]
            if high is None or high > above.range[0]:
                raise ValueError(f"bands {below.id!r} and {above.id!r} overlap")
            if high < above.range[0]:
                raise ValueError(
                    f"gap between bands {below.id!r} and {above.id!r}: values in [{high:g}, {above.range[0]:g}) get no decision"
                )
        if ordered[-1].range[1] is not None:
            raise ValueError(
                f"last band {ordered[-1].id!r} ends at {ordered[-1].range[1]:g}: larger values get no decision"
            )
        return self

    def band_for(self, x: float) -> Band:
        """The one band containing `x` (validation guarantees exactly one for x >= 0)."""
        matches = [b for b in self.bands if b.contains(x)]
        if len(matches) != 1:
            raise ValueError(f"{self.id}: {x:g} falls in {len(matches)} bands")
        return matches[0]


class WantLevel(BaseModel):
    model_config = _STRICT

    id: str
    value: Similarity
    fraction: float = Field(ge=0.0, le=1.0)
    reason: str


class Want(BaseModel):
    """Similarity → the share of layers the domain asks to train."""

    model_config = _STRICT

    id: str
    field: Literal["similarity"]
    section: str
    levels: tuple[WantLevel, ...]

    @model_validator(mode="after")
    def _each_level_once(self) -> Want:
        seen = Counter(level.value for level in self.levels)
        missing = sorted(set(get_args(Similarity)) - set(seen))
        twice = sorted(v for v, n in seen.items() if n > 1)
        if missing:
            raise ValueError(f"similarity level(s) {missing} have no rule")
        if twice:
            raise ValueError(f"similarity level(s) {twice} have more than one rule")
        return self

    def level_for(self, similarity: str) -> WantLevel:
        return next(level for level in self.levels if level.value == similarity)


class ConditionalRule(BaseModel):
    """Base of every rule that fires on conditions; subclasses name the fields they may test."""

    model_config = _STRICT
    allowed_fields: ClassVar[frozenset[str]] = frozenset()

    id: str
    when: tuple[Condition, ...] = ()

    @model_validator(mode="after")
    def _known_fields(self) -> ConditionalRule:
        _check_fields(self.when, type(self).allowed_fields)
        return self


class ScratchRule(ConditionalRule):
    allowed_fields = PROFILE_FIELDS

    reason: str
    section: str


class StrategyRules(BaseModel):
    """`strategy.yaml`."""

    model_config = _STRICT

    caps: tuple[Cap, ...] = Field(min_length=1)
    want: Want
    from_scratch: tuple[ScratchRule, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> StrategyRules:
        _check_unique_ids([c.id for c in self.caps] + [r.id for r in self.from_scratch], "rule")
        return self


class Rung(BaseModel):
    model_config = _STRICT

    rung: int = Field(ge=1, le=5)
    name: str
    strategy: Strategy
    max_fraction: float | None = Field(ge=0.0, le=1.0)
    expected_accuracy: tuple[float, float]
    time_estimate: str


class Ladder(BaseModel):
    """`ladder.yaml`."""

    model_config = _STRICT

    rungs: tuple[Rung, ...]
    # How each strategy is worded where it is shown; checked after the rungs, so that their errors come first.
    strategies: dict[Strategy, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _climbs(self) -> Ladder:
        fractional = [r for r in self.rungs if r.max_fraction is not None]
        bounds = [r.max_fraction for r in fractional if r.max_fraction is not None]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError("rungs' max_fraction must strictly increase")
        if not fractional or fractional[-1].max_fraction != 1.0:
            raise ValueError("the highest fractional rung must reach max_fraction 1.0 so every fraction has a rung")
        if not any(r.strategy == "from_scratch" for r in self.rungs):
            raise ValueError("no rung for strategy 'from_scratch'")
        unworded = [s for s in get_args(Strategy) if s not in self.strategies]
        if unworded:
            raise ValueError(f"strategies: no wording for {unworded}")
        return self

    def rung_for(self, fraction: float, from_scratch: bool) -> Rung:
        if from_scratch:
            return next(r for r in self.rungs if r.strategy == "from_scratch")
        return next(r for r in self.rungs if r.max_fraction is not None and fraction <= r.max_fraction)


class LRRule(ConditionalRule):
    allowed_fields = LR_FIELDS

    lr_head: float | None = Field(default=None, gt=0)
    lr_head_range: tuple[float, float] | None = None
    lr_backbone: float | None = Field(default=None, gt=0)
    lr_backbone_range: tuple[float, float] | None = None
    head_multiplier: float | None = Field(default=None, gt=0)
    layerwise_span: float | None = Field(default=None, ge=1)
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    reduce_lr_on_plateau: bool = False
    reason: str
    section: str

    @model_validator(mode="after")
    def _head_rate_defined(self) -> LRRule:
        if self.lr_head is None and (self.lr_backbone is None or self.head_multiplier is None):
            raise ValueError("give lr_head, or lr_backbone with head_multiplier")
        for name in ("lr_head_range", "lr_backbone_range"):
            bounds = getattr(self, name)
            if bounds is not None and not 0 < bounds[0] <= bounds[1]:
                raise ValueError(f"{name} {list(bounds)} must satisfy 0 < low <= high")
        return self

    @property
    def head_rate(self) -> float:
        if self.lr_head is not None:
            return self.lr_head
        assert self.lr_backbone is not None and self.head_multiplier is not None
        return self.lr_backbone * self.head_multiplier


class LearningRates(BaseModel):
    """`learning_rates.yaml`: first match wins; the last rule must be a catch-all."""

    model_config = _STRICT

    rules: tuple[LRRule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _catch_all_last(self) -> LearningRates:
        _check_unique_ids((r.id for r in self.rules), "rule")
        if self.rules[-1].when:
            raise ValueError(f"last rule {self.rules[-1].id!r} must have `when: []` so every stage gets a rate")
        return self


class StageTemplate(BaseModel):
    model_config = _STRICT

    name: str
    fraction: float | Literal["target"]
    epochs: int = Field(gt=0)
    patience: int | None = Field(default=None, gt=0)

    @field_validator("fraction")
    @classmethod
    def _in_unit_range(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError(f"fraction {value} must be in [0, 1] or 'target'")
        return value


class Schedule(ConditionalRule):
    allowed_fields = SCHEDULE_FIELDS

    section: str
    stages: tuple[StageTemplate, ...] = Field(min_length=1)


class Schedules(BaseModel):
    """`schedules.yaml`: first match wins; coverage is checked against the whole rule book."""

    model_config = _STRICT

    schedules: tuple[Schedule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Schedules:
        _check_unique_ids((s.id for s in self.schedules), "schedule")
        return self


class ZooModel(BaseModel):
    model_config = _STRICT

    key: str
    name: str
    modality: Modality
    model_id: str
    params_millions: float = Field(gt=0)
    imagenet_top1: float | None = Field(default=None, ge=0, le=1)
    speed: Literal["very_fast", "fast", "medium", "slow"] | None = None
    best_for: str


class Selection(ConditionalRule):
    allowed_fields = frozenset(
        {"modality", "task", "priority", "hardware", "n_examples", "examples_per_class", "similarity"}
    )

    pick: str
    alternatives: tuple[str, ...] = ()
    reason: str


class Zoo(BaseModel):
    """`zoo.yaml`: the model tables and the quick selection guide."""

    model_config = _STRICT

    models: tuple[ZooModel, ...]
    selection: tuple[Selection, ...]

    @model_validator(mode="after")
    def _picks_exist_and_every_modality_is_covered(self) -> Zoo:
        _check_unique_ids((m.key for m in self.models), "model")
        _check_unique_ids((s.id for s in self.selection), "selection rule")
        by_key = {m.key: m for m in self.models}
        for rule in self.selection:
            for key in (rule.pick, *rule.alternatives):
                if key not in by_key:
                    raise ValueError(f"selection rule {rule.id!r} names unknown model {key!r}; known: {sorted(by_key)}")
        for modality in get_args(Modality):
            if not any(_is_modality_catch_all(rule, modality) for rule in self.selection):
                raise ValueError(
                    f"no catch-all selection rule for modality {modality!r} "
                    f"(a rule whose only condition is modality eq {modality})"
                )
        return self

    def model(self, key: str) -> ZooModel:
        return next(m for m in self.models if m.key == key)


def _is_modality_catch_all(rule: ConditionalRule, modality: str) -> bool:
    return (
        len(rule.when) == 1
        and rule.when[0].field == "modality"
        and rule.when[0].op == "eq"
        and rule.when[0].value == modality
    )


class WarningRule(ConditionalRule):
    allowed_fields = DECISION_FIELDS

    message: str
    section: str
    augmentation: tuple[AugmentOp, ...] = Field(
        default=(), description="Image augmentations the advice asks for, switched on in the plan the search runs."
    )


class Warnings(BaseModel):
    """`warnings.yaml`: every rule that holds adds its message."""

    model_config = _STRICT

    warnings: tuple[WarningRule, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Warnings:
        _check_unique_ids((w.id for w in self.warnings), "warning")
        return self


class MistakeWords(BaseModel):
    """A modality's own diagnosis and solution for a mistake (unset: the mistake's general words)."""

    model_config = _STRICT

    diagnosis: str | None = None
    solution: str | None = None


def _placeholders(text: str) -> set[str]:
    """The `{field}` names a diagnosis or solution fills in from the trial's observation."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name is not None}


class Mistake(BaseModel):
    """A row of the Common Mistakes table (or of the guide's other trial advice) with its detector.

    `diagnosis` and `solution` may quote the observation with `{field}` or `{field:.0%}`.
    """

    model_config = _STRICT

    id: str
    mistake: str
    symptoms: tuple[str, ...]
    solution: str
    diagnosis: str
    section: str
    detect: tuple[Condition, ...] = Field(min_length=1)
    by_modality: dict[Modality, MistakeWords] = Field(default_factory=dict)
    retry: dict[str, float] = Field(
        default_factory=dict,
        description="The search tries the trial once more with these parameters multiplied (once per study).",
    )
    stops_stages: bool = Field(
        False,
        description="A trial runs no deeper stage after one whose gain this detector's "
        "`smallest_stage_gain` condition catches (its upper bound is the floor: `Mistakes.stage_gain_floor`).",
    )

    @model_validator(mode="after")
    def _known_fields(self) -> Mistake:
        _check_fields(self.detect, TRIAL_FIELDS)
        texts = [self.diagnosis, self.solution]
        texts += [t for words in self.by_modality.values() for t in (words.diagnosis, words.solution) if t]
        for text in texts:
            try:
                unknown = _placeholders(text) - TRIAL_FIELDS
            except ValueError as exc:
                raise ValueError(f"mistake {self.id!r}: bad placeholder in {text!r}: {exc}") from None
            if unknown:
                raise ValueError(f"mistake {self.id!r} quotes unknown field(s) {sorted(unknown)}: {text!r}")
        if any(factor <= 0 for factor in self.retry.values()):
            raise ValueError(f"mistake {self.id!r}: retry factors must be > 0: {self.retry}")
        return self


class Mistakes(BaseModel):
    """`mistakes.yaml`: the Common Mistakes table with a detector per row."""

    model_config = _STRICT

    mistakes: tuple[Mistake, ...] = Field(min_length=1)

    def stage_gain_floor(self) -> float | None:
        """The least a stage must add for a deeper one to follow it in the same trial: the upper bound
        of the `smallest_stage_gain` condition of the mistakes marked `stops_stages` (None if none)."""
        bounds = []
        for mistake in self.mistakes:
            for c in mistake.detect if mistake.stops_stages else ():
                if c.field == "smallest_stage_gain" and c.op in ("lt", "le", "between"):
                    bounds.append(float(c.value[1] if c.op == "between" else c.value))
        return max(bounds, default=None)

    @model_validator(mode="after")
    def _unique(self) -> Mistakes:
        _check_unique_ids((m.id for m in self.mistakes), "mistake")
        return self


SIMILARITY_FIELDS = frozenset(
    {
        "modality",
        "drift",
        "low_drift",
        "top_drift",
        "probe_accuracy",
        "raw_probe_accuracy",
        "probe_gain",
        "fragmentation",
        "unk_rate",
        "latin_share",
    }
)
CHECK_FIELDS = frozenset(
    {
        "n_corrupted",
        "n_layout_problems",
        "n_duplicate_groups",
        "n_duplicate_extra",
        "n_leaked_groups",
        "n_label_conflicts",
        "n_near_duplicate_groups",
        "n_near_leaked_groups",
        "truncation_rate",
        "grayscale_share",
        "min_side",
        "imbalance_ratio",
        "probe_gain",
    }
)


class SimilarityRule(ConditionalRule):
    """Maps measured evidence to one of the tutorial's four similarity levels."""

    allowed_fields = SIMILARITY_FIELDS

    level: Similarity
    reason: str
    section: str


class CheckRule(ConditionalRule):
    """A data problem worth reporting in a profile."""

    allowed_fields = CHECK_FIELDS

    message: str
    section: str


class BackboneFit(BaseModel):
    """How much accuracy (converged head, cross-validated) or LogME a priority trades for a faster backbone."""

    model_config = _STRICT

    tolerance: dict[Literal["balanced", "speed", "accuracy", "mobile"], float]
    accuracy_tolerance: dict[Literal["balanced", "speed", "accuracy", "mobile"], float]
    section: str

    @model_validator(mode="after")
    def _every_priority(self) -> BackboneFit:
        for name in ("tolerance", "accuracy_tolerance"):
            table = getattr(self, name)
            missing = sorted({"balanced", "speed", "accuracy", "mobile"} - set(table))
            if missing:
                raise ValueError(f"{name} needs every priority; missing {missing}")
            if any(value < 0 for value in table.values()):
                raise ValueError(f"{name} values must be ≥ 0")
        return self


class ShiftRule(BaseModel):
    """When BatchNorm drift counts as a low-level or high-level shift."""

    model_config = _STRICT

    threshold: float = Field(gt=0)
    ratio: float = Field(ge=1)


class ProfilingRules(BaseModel):
    """`profiling.yaml`: similarity levels from measured evidence, backbone fit, data checks."""

    model_config = _STRICT

    sample: int = Field(gt=1, description="Examples the frozen pass measures (stratified sample).")
    shift: ShiftRule
    similarity: tuple[SimilarityRule, ...] = Field(min_length=1)
    backbone_fit: BackboneFit
    checks: tuple[CheckRule, ...] = ()

    @model_validator(mode="after")
    def _unique_and_covered(self) -> ProfilingRules:
        _check_unique_ids([r.id for r in self.similarity] + [r.id for r in self.checks], "rule")
        for modality in get_args(Modality):
            if not any(_is_modality_catch_all(rule, modality) for rule in self.similarity):
                raise ValueError(
                    f"no catch-all similarity rule for modality {modality!r} "
                    f"(a rule whose only condition is modality eq {modality})"
                )
        return self

    def level_for(self, evidence: Mapping[str, object]) -> SimilarityRule:
        """First similarity rule that holds for the evidence (the catch-alls guarantee one)."""
        return next(rule for rule in self.similarity if all_hold(rule.when, evidence))

    def findings(self, facts: Mapping[str, object]) -> list[CheckRule]:
        """Every check whose conditions hold."""
        return [rule for rule in self.checks if rule.when and all_hold(rule.when, facts)]


class RuleBook(BaseModel):
    """All the knowledge, validated; `source` says where it was read from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    strategy: StrategyRules
    ladder: Ladder
    learning_rates: LearningRates
    schedules: Schedules
    zoo: Zoo
    warnings: Warnings
    mistakes: Mistakes
    profiling: ProfilingRules
