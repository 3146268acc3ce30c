"""advisor: a transfer-learning strategy advisor and runner.

The light public API (profile, recommendation, rule engine) imports without torch.
"""

from advisor.engine.loader import load_rulebook
from advisor.engine.recommend import recommend
from advisor.engine.rulebook import RuleBook
from advisor.errors import RulesError
from advisor.profile import DatasetProfile
from advisor.recommendation import Recommendation

__all__ = [
    "DatasetProfile",
    "ProfileReport",
    "Recommendation",
    "RuleBook",
    "RulesError",
    "load_rulebook",
    "profile_dataset",
    "recommend",
    "tune",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # `advisor.tune` pulls in torch and optuna: load it on first use only.
    if name == "tune":
        from advisor.auto import tune

        return tune
    # Profiling reads images (PIL) and, when measuring, runs torch: also on first use only.
    if name in ("profile_dataset", "ProfileReport"):
        import advisor.profiling

        return getattr(advisor.profiling, name)
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
