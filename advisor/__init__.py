"""advisor: a transfer-learning strategy advisor and runner.

The light public API (profile, recommendation, rule engine) imports without torch.
"""

from advisor.engine.loader import RuleBook, load_rulebook
from advisor.engine.recommend import recommend
from advisor.errors import RulesError
from advisor.profile import DatasetProfile
from advisor.recommendation import Recommendation

__all__ = ["DatasetProfile", "Recommendation", "RuleBook", "RulesError", "load_rulebook", "recommend", "tune"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # `advisor.tune` pulls in torch and optuna: load it on first use only.
    if name == "tune":
        from advisor.auto import tune

        return tune
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
