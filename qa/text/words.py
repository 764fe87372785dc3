"""Every way the service cuts text into words, in one place: offsets for highlights and phrases, stems, stop
words, model-input typography, words-and-numbers for the urgent readings, and BM25's tokens.

Three views exist because three consumers need different things; each says why:

- ``words``: lower-cased words with their character offsets, apostrophes kept inside ("child's"). Highlights and
  quoted phrases map back to the passage text through the offsets.
- ``tokens``: words without apostrophes ("won't" = "wont") and decimal numbers ("38.5", "38,5") as one token, with
  their stems: the urgent rules read readings and informal spelling.
- ``bm25_tokens``: exactly what ``bm25s.tokenize(texts, stopwords="en", stemmer=...)`` makes (a test holds the two
  equal): the stored BM25 index was built with them, so a query must be cut the same way to be scored against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"\w+(?:['’]\w+)*")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)?|[^\W\d_]+(?:['’][^\W\d_]+)*")
_BM25_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's token pattern, which bm25s uses
# Words that carry no content in a question: left out of highlights, term coverage and content words. BM25 has
# its own list (bm25s's English stop words), which the stored index was built with.
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it its of on or such that the their then there these "
    "they this to was will with i me my we our you your he she him her his hers what which who whom how "
    "when where why do does did can could would should has have had am been being so not no than too very "
    "about after before again all any both each few more most other some own same just also".split()
)
_REMEMBER_UP_TO = 2000  # characters: passages are re-scanned on every search that returns them
_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                             "\u2014": "-", "\u00a0": " ", "\u2022": "-"})

Word = tuple[int, int, str]  # (start, end, lower-cased word)


def words(text: str) -> tuple[Word, ...]:
    """(start, end, lower-cased word) for each word; apostrophes stay inside words and read as '."""
    return _remembered_words(text) if len(text) <= _REMEMBER_UP_TO else _scan_words(text)


def _scan_words(text: str) -> tuple[Word, ...]:
    return tuple((m.start(), m.end(), m.group().casefold().replace("’", "'")) for m in _WORD.finditer(text))


_remembered_words = lru_cache(maxsize=4096)(_scan_words)


def normalise_words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, without offsets."""
    return [word for _, _, word in words(text)]


def content_stems(text: str) -> tuple[Word, ...]:
    """(start, end, stem) of each word of ``text`` that is not a stop word."""
    return _remembered_stems(text) if len(text) <= _REMEMBER_UP_TO else _content_stems(text)


def _content_stems(text: str) -> tuple[Word, ...]:
    return tuple((start, end, stem(word)) for start, end, word in words(text) if word not in STOPWORDS)


_remembered_stems = lru_cache(maxsize=4096)(_content_stems)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=131072)
def _stem_exact(word: str) -> str:
    return _stemmer().stemWord(word)


def stem(word: str) -> str:
    """The English Snowball stem of a word, case-folded first (PyStemmer)."""
    return _stem_exact(word.casefold())


def plain(word: str) -> str:
    """Lower case without apostrophes, so "won't", "won’t" and "wont" are one word."""
    return word.casefold().replace("'", "").replace("’", "")


def plain_typography(text: str) -> str:
    """Curly quotes, dashes and no-break spaces as plain ASCII: the model's tokenizer handles them poorly (a curly
    apostrophe alone can halve a similarity). Only model inputs change, never returned text."""
    return text.translate(_TYPOGRAPHY)


@dataclass(frozen=True)
class Token:
    """A word (plain form, stemmed) or a number, with its character offsets in the text."""

    text: str
    stem: str
    number: float | None
    start: int
    end: int


def _number(word: str) -> float | None:
    """The value of a written number ("38.5", "38,5"); None for a word, or for digits Python cannot read as a
    number (superscripts and other Unicode digits)."""
    if not word[0].isdigit():
        return None
    try:
        return float(word.replace(",", "."))
    except ValueError:
        return None


def tokens(text: str) -> list[Token]:
    """Words and decimal numbers of ``text``, apostrophes removed, each with its stem (a number is its own)."""
    found = []
    for match in _TOKEN.finditer(text):
        word = plain(match.group())
        number = _number(word)
        found.append(Token(word, word if number is not None else stem(word), number, match.start(), match.end()))
    return found


@lru_cache(maxsize=1)
def _bm25_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def bm25_tokens(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stop-word free, stemmed tokens, exactly as ``bm25s.tokenize(texts, stopwords="en",
    stemmer=...)`` makes them. bm25s builds a set and progress bars per call, which cost more than the rest of a
    query's lexical work."""
    stopwords = _bm25_stopwords()
    return [[_stem_exact(token) for token in _BM25_TOKEN.findall(text.lower()) if token not in stopwords]
            for text in texts]
