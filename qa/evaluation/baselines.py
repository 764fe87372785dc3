"""The simplest alternative to compare against: one vector per document in a flat FAISS index, nothing else.

No passages, no BM25, no context, no expansions: each document's text is encoded as it is (the model reads its
first tokens). For a corpus labelled by gold quotes (the guide is one document), the unit is the passage.
"""

from __future__ import annotations

from qa.corpus.documents import load_corpus
from qa.corpus.splitter import split_document
from qa.embedding.base import DEFAULT_MODEL, resolve_model_path
from qa.evaluation.metrics import gold_qrels

DEPTH = 100


def plain_ranking(corpus_path, queries, qrels=None, model: str = DEFAULT_MODEL) -> tuple[dict, list]:
    """(ranking, qrels): each in-scope query's top units by cosine, and the qrels they are scored against (the
    given document qrels, or passage qrels from gold quotes)."""
    import faiss
    from sentence_transformers import SentenceTransformer

    corpus = load_corpus(corpus_path)
    queries = [q for q in queries if not q.out_of_scope]
    if qrels is not None:
        units = [(d.id, d.text) for d in corpus.documents]
    else:
        passages = [p for d in corpus.documents for p in split_document(d)]
        units = [(p.id, p.text) for p in passages]
        qrels = gold_qrels(queries, passages)
    encoder = SentenceTransformer(resolve_model_path(model), device="cpu")
    vectors = encoder.encode([text for _, text in units], batch_size=32, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    asked = encoder.encode([q.query for q in queries], batch_size=64, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    scores, rows = index.search(asked, min(DEPTH, len(units)))
    ranking = {q.qid: [(units[r][0], float(s)) for r, s in zip(row, score) if r >= 0]
               for q, row, score in zip(queries, rows, scores)}
    return ranking, qrels
