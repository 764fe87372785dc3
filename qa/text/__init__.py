"""Text handling shared by every layer: words, stems, stop words, typography and one speller."""

from qa.text.spelling import Speller, correctable, english_zipf, is_common_english
from qa.text.words import (
    STOPWORDS,
    Token,
    bm25_tokens,
    content_stems,
    normalise_words,
    plain,
    plain_typography,
    stem,
    tokens,
    words,
)

__all__ = ["STOPWORDS", "Speller", "Token", "bm25_tokens", "content_stems", "correctable", "english_zipf",
           "is_common_english", "normalise_words", "plain", "plain_typography", "stem", "tokens", "words"]
