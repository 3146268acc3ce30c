"""Read a dataset on disk for the questionnaire: counts and modality, and on request the measured similarity.

Everything goes through `advisor.profiling.profile_dataset`, the same reader `advisor profile` uses,
so the form shows what the runners will train on (unreadable files are skipped and not counted).
"""

from __future__ import annotations

from pathlib import Path

COUNT_FIELDS = ("modality", "n_examples", "n_classes", "smallest_class", "largest_class")


def read_dataset(path: Path | str, measure: bool = False) -> dict[str, object]:
    """The profile fields a dataset on disk answers.

    Args:
        path: An image folder (class sub-folders), a CSV/TSV/JSONL table, or a text folder.
        measure: Also run the frozen backbone to measure similarity (seconds to a minute on CPU);
            adds "similarity" and "similarity_reason".

    Raises:
        ValueError: With a message fit to show at the path field.
    """
    from advisor.errors import RulesError
    from advisor.profiling import profile_dataset
    from runners.errors import RunnerError

    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    try:
        report = profile_dataset(path, measure_similarity=measure)
    except (RunnerError, RulesError) as exc:  # the profiler's own message is the one to show at the field
        raise ValueError(str(exc)) from exc
    found: dict[str, object] = {name: getattr(report.profile, name) for name in COUNT_FIELDS}
    similarity = report.evidence.similarity
    if similarity is not None:
        from advisor.profiling.apply import similarity_reason

        reason = similarity_reason(similarity)
        found["similarity"] = similarity.level
        found["similarity_reason"] = reason.reason if reason else similarity.rule.reason
    elif measure and report.evidence.notes:
        found["similarity_reason"] = report.evidence.notes[-1]
    return found
