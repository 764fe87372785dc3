"""Fixed, operator-editable notice texts: the only service text that is not quoted from the corpus.

The urgent notice's decision lives in ``qa.urgent``; a search only needs something that decides (``UrgentCheck``),
which ``qa.wiring`` attaches, so that search never depends on the urgent rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

DEFAULT_NO_ANSWER = "The guide doesn't cover this question. Please ask your care team."


class UrgentCheck(Protocol):
    """Decides whether a question describes an emergency; the decision has ``fires`` and explains itself."""

    def decide(self, question: str, vector: np.ndarray | None = None) -> Any: ...


@dataclass
class Notices:
    no_answer: str = DEFAULT_NO_ANSWER
    no_phrase_match: str = DEFAULT_NO_ANSWER
    urgent_text: str = ""
    urgent: UrgentCheck | None = None  # the rules of the file named by urgent.rules, attached by qa.wiring

    def urgent_decision(self, query: str, vector: np.ndarray | None = None) -> Any:
        """Whether the question describes an emergency, and why; None without an urgent text and rules."""
        if not self.urgent_text or self.urgent is None:
            return None
        return self.urgent.decide(query, vector)

    def urgent_notice(self, query: str, vector: np.ndarray | None = None) -> dict | None:
        """The urgent notice when the question describes an emergency, else None. ``vector`` is the query's
        embedding that the search already computed; without it the semantic check is skipped."""
        decision = self.urgent_decision(query, vector)
        if decision is not None and decision.fires:
            return {"kind": "urgent", "text": self.urgent_text}
        return None


def read_notices(path: str | Path | None) -> tuple[Notices, Path | None]:
    """The texts of a notices file, and the urgent rules file it names (beside it), or None. A missing notices
    file gives the built-in abstention text and no urgent notice."""
    if not path or not Path(path).is_file():
        return Notices(), None
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
        notices = Notices(no_answer=no_answer,
                          no_phrase_match=str(data.get("no_phrase_match", {}).get("text", no_answer)),
                          urgent_text=str(urgent.get("text", "")))
        return notices, rules_path
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"notices file {path} is malformed ({type(exc).__name__}: {exc}); "
                         "it needs no_answer.text and may have no_phrase_match.text, urgent.text and "
                         "urgent.rules") from None
