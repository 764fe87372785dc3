"""One speller: a misspelt word corrected toward a list of known words, with rapidfuzz and wordfreq.

The search corrects toward the corpus's words ("petichiae" -> petechiae) and the urgent rules toward their
concept words ("siezure" -> seizure). Both leave alone any word that general English knows, so a real word
is never turned into another.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

MIN_LENGTH = 4  # shorter words have too many close neighbours to correct safely
MIN_SCORE = 80.0  # rapidfuzz ratio (0-100) a correction must reach
COMMON_ZIPF = 3.0  # a word this common in English (wordfreq's Zipf scale) is a real word, never a misspelling


@lru_cache(maxsize=65536)
def english_zipf(word: str) -> float:
    """How common a word is in general English (Zipf scale: 7 = 'the', 3 = once per million words)."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def is_common_english(word: str) -> bool:
    return english_zipf(word) >= COMMON_ZIPF


def correctable(word: str) -> bool:
    """Whether a word may be a misspelling at all: long enough, letters only, and not common English."""
    return len(word) >= MIN_LENGTH and word.isalpha() and not is_common_english(word)


class Speller:
    """Corrects a misspelt word toward ``choices`` (the words worth correcting to; among equally close ones the
    first wins)."""

    def __init__(self, choices: Iterable[str]) -> None:
        self.choices = list(dict.fromkeys(word for word in choices if len(word) >= MIN_LENGTH and word.isalpha()))

    def correction(self, word: str) -> str | None:
        """The choice ``word`` most likely meant, or None when it is not ``correctable`` or nothing is close."""
        if not correctable(word):
            return None
        from rapidfuzz import fuzz, process

        match = process.extractOne(word, self.choices, scorer=fuzz.ratio, score_cutoff=MIN_SCORE)
        return match[0] if match else None
