"""Fixed, operator-editable notice texts: the only service text that is not quoted from the corpus."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.urgent import Decision, UrgentDetector, load_urgent

_DEFAULT_NO_ANSWER = "The guide doesn't cover this question. Please ask your care team."


@dataclass
class Notices:
    no_answer: str = _DEFAULT_NO_ANSWER
    no_phrase_match: str = _DEFAULT_NO_ANSWER
    urgent_text: str = ""
    urgent: UrgentDetector | None = None  # the rules of the file named by urgent.rules

    def urgent_decision(self, query: str, vector: np.ndarray | None = None) -> Decision:
        """Whether the question describes an emergency, and why (see qa/urgent.py)."""
        if not self.urgent_text or self.urgent is None:
            return Decision(False, reason="no urgent text or rules file")
        return self.urgent.decide(query, vector)

    def urgent_notice(self, query: str, vector: np.ndarray | None = None) -> dict | None:
        """The urgent notice when the question describes an emergency, else None. ``vector`` is the query's
        embedding that the search already computed; without it the semantic check is skipped."""
        if self.urgent_decision(query, vector).fires:
            return {"kind": "urgent", "text": self.urgent_text}
        return None


def load_notices(path: str | Path | None) -> Notices:
    """Read the notices file; a missing file gives the built-in abstention text and no urgent notice."""
    if not path or not Path(path).is_file():
        return Notices()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        no_answer = str(data["no_answer"]["text"])
        urgent = data.get("urgent", {})
        if "triggers" in urgent:
            raise ValueError("urgent.triggers is no longer read: urgent wording is described by concepts in the "
                             "file named by urgent.rules (corpus/urgent.json)")
        rules = urgent.get("rules")
        rules_path = Path(path).parent / str(rules) if rules else None
        if rules_path is not None and not rules_path.is_file():
            raise ValueError(f"urgent.rules names {rules_path}, which does not exist")
        return Notices(
            no_answer=no_answer,
            no_phrase_match=str(data.get("no_phrase_match", {}).get("text", no_answer)),
            urgent_text=str(urgent.get("text", "")),
            urgent=load_urgent(rules_path),
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"notices file {path} is malformed ({type(exc).__name__}: {exc}); "
                         "it needs no_answer.text and may have no_phrase_match.text, urgent.text and "
                         "urgent.rules") from None
