"""When the urgent notice fires: the rules as data, word matching, readings, example sentences, the classifier
and the detector that applies them."""

from qa.urgent.classifier import UrgentClassifier, train
from qa.urgent.detector import Decision, UrgentDetector, load_urgent
from qa.urgent.rules import ClassifierSettings, SemanticSettings, UrgentRules, load_rules

__all__ = ["ClassifierSettings", "Decision", "SemanticSettings", "UrgentClassifier", "UrgentDetector",
           "UrgentRules", "load_rules", "load_urgent", "train"]
