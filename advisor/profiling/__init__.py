"""Profile a dataset from the data itself: counts, problems, and measured similarity and backbone fit.

`profile_dataset(path)` answers what the questionnaire otherwise asks people to guess: how many
examples per class, and how similar the data is to the backbone's pretraining. Importing this
package is light; torch loads only when similarity is measured.
"""

from __future__ import annotations

from advisor.profiling.evidence import ProfileReport
from advisor.profiling.profiler import measure_sample, profile_dataset

__all__ = ["ProfileReport", "measure_sample", "profile_dataset"]
