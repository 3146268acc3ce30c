"""The questionnaire's choices and the wording shown beside them, taken from the tutorial."""

from __future__ import annotations

from typing import get_args

from advisor.profile import Hardware, Modality, Priority, Similarity, Task

MODALITIES: tuple[Modality, ...] = get_args(Modality)
TASKS: tuple[Task, ...] = get_args(Task)
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
HARDWARE: tuple[Hardware, ...] = get_args(Hardware)

# The tutorial's four similarity levels ("Decision Tree: Which Strategy? › Question 2"), each with
# the examples it gives, so a person can place their own data.
SIMILARITY_CHOICES: dict[Similarity, tuple[str, str]] = {
    "very_similar": ("Very similar", "ImageNet → dogs/cats · BERT → other English text"),
    "similar": ("Moderately similar", "photos → medical images/X-rays · sentiment analysis"),
    "different": ("Different", "photos → satellite/aerial images · English → other languages"),
    "very_different": (
        "Very different",
        "RGB photos → audio spectrograms, thermal or microscopy images · English → genomic sequences",
    ),
}

PRIORITY_LABELS: dict[Priority, str] = {
    "balanced": "Balanced",
    "speed": "Speed",
    "accuracy": "Accuracy",
    "mobile": "Mobile / edge",
}
