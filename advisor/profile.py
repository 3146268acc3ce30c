"""`DatasetProfile`: what the person (or the profiler) says about the data; the engine's only input."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Modality = Literal["image", "text"]
Task = Literal["classification", "token_classification", "question_answering", "generation", "seq2seq"]
Similarity = Literal["very_similar", "similar", "different", "very_different"]
Priority = Literal["balanced", "speed", "accuracy", "mobile"]
Hardware = Literal["cpu", "gpu"]


# Tasks whose labels are classes: the only ones where n_classes is required.
_CLASS_TASKS = ("classification", "token_classification")


class DatasetProfile(BaseModel):
    """A labelled dataset as the decision tree sees it.

    `examples_per_class` defaults to `n_examples / n_classes` (or `n_examples` when the task has no
    classes). `smallest_class` lets a profiler report imbalance; when set, the engine warns and
    asks for class weights above a 3:1 ratio.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    modality: Modality
    task: Task = "classification"
    n_examples: int = Field(gt=0, description="Labelled training examples, in total.")
    n_classes: int | None = Field(default=None, ge=1)
    examples_per_class: float | None = Field(default=None, gt=0)
    smallest_class: int | None = Field(default=None, ge=0, description="Examples in the rarest class.")
    largest_class: int | None = Field(default=None, ge=0, description="Examples in the commonest class.")
    similarity: Similarity = "similar"
    priority: Priority = "balanced"
    hardware: Hardware = "cpu"
    input_size: int | None = Field(default=None, gt=0, description="Image side in pixels, if known.")

    @model_validator(mode="before")
    @classmethod
    def _derive_examples_per_class(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("examples_per_class") is not None:
            return data
        n, k = data.get("n_examples"), data.get("n_classes")
        if isinstance(n, int) and n > 0:
            return {**data, "examples_per_class": n / k if isinstance(k, int) and k > 0 else float(n)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> DatasetProfile:
        if self.task == "classification" and self.n_classes is None:
            raise ValueError("n_classes is required for classification")
        if self.task in _CLASS_TASKS and self.n_classes is not None and self.n_classes < 2:
            raise ValueError(f"{self.task} needs at least 2 classes, got n_classes={self.n_classes}")
        if self.n_classes is not None and self.n_classes > self.n_examples:
            raise ValueError(
                f"n_classes={self.n_classes} is more than n_examples={self.n_examples}: "
                "every class needs at least one example"
            )
        if self.n_classes and self.examples_per_class is not None:
            implied = self.examples_per_class * self.n_classes
            # Allow rounding of a typed-in average (e.g. 333 per class for 1,000 over 3 classes).
            if abs(implied - self.n_examples) > max(self.n_classes, 0.02 * self.n_examples):
                raise ValueError(
                    f"examples_per_class={self.examples_per_class:g} × n_classes={self.n_classes} = "
                    f"{implied:g}, which does not match n_examples={self.n_examples}"
                )
        if self.smallest_class is not None and self.largest_class is not None:
            if self.smallest_class > self.largest_class:
                raise ValueError(
                    f"smallest_class={self.smallest_class} is larger than largest_class={self.largest_class}"
                )
        return self

    @property
    def imbalance_ratio(self) -> float | None:
        """Largest over smallest class size, when both are known (inf when a class is empty)."""
        if self.smallest_class is None or self.largest_class is None:
            return None
        if self.smallest_class == 0:
            return float("inf")
        return self.largest_class / self.smallest_class

    def context(self) -> dict[str, Any]:
        """The flat field → value mapping rule conditions are evaluated against."""
        return {**self.model_dump(), "imbalance_ratio": self.imbalance_ratio}
