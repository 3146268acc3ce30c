"""advisor: a transfer-learning strategy advisor and runner.

The light public API (profile, recommendation, rule engine) imports without torch.
"""

from advisor.engine.loader import RuleBook, load_rulebook
from advisor.engine.recommend import recommend
from advisor.errors import RulesError
from advisor.profile import DatasetProfile
from advisor.recommendation import Recommendation

__all__ = ["DatasetProfile", "Recommendation", "RuleBook", "RulesError", "load_rulebook", "recommend"]
__version__ = "0.1.0"
