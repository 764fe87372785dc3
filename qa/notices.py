"""Fixed, operator-editable notice texts: the only service text that is not quoted from the corpus."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from qa.query import TermList, normalise_words, trigger_list

_DEFAULT_NO_ANSWER = "The guide doesn't cover this question. Please ask your care team."


@dataclass
class Notices:
    no_answer: str = _DEFAULT_NO_ANSWER
    no_phrase_match: str = _DEFAULT_NO_ANSWER
    urgent_text: str = ""
    urgent_triggers: TermList = field(default_factory=TermList)

    def urgent_notice(self, query: str) -> dict | None:
        """The urgent notice when the question describes an emergency, else None."""
        if self.urgent_text and self.urgent_triggers.matches(normalise_words(query)):
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
        return Notices(
            no_answer=no_answer,
            no_phrase_match=str(data.get("no_phrase_match", {}).get("text", no_answer)),
            urgent_text=str(urgent.get("text", "")),
            urgent_triggers=trigger_list([str(t) for t in urgent.get("triggers", [])]),
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"notices file {path} is malformed ({type(exc).__name__}: {exc}); "
                         "it needs no_answer.text and may have no_phrase_match.text, urgent.text and "
                         "urgent.triggers") from None
