"""The one reader of labelled questions about a corpus, and of qrels: TSV topics, JSONL with gold quotes or urgent
labels. Evaluation scores them; a corpus's example questions (qa/search/examples.py) are read the same way."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import InputError

SPLITS = ("dev", "test", "report", "train")  # of an urgent set; train: written blind as training data only


@dataclass
class LabelledQuery:
    """One labelled question. Retrieval sets give ``gold`` quotes or ``out_of_scope``; urgent sets give ``urgent``
    (and ``concept``, ``split``). ``kind`` is the register a writer gave it, for reading results only."""

    qid: str
    query: str
    gold: list[str] = field(default_factory=list)
    out_of_scope: bool = False
    urgent: bool | None = None
    concept: str = ""
    split: str = "dev"
    kind: str = ""
    source: str = ""  # the file it was read from: a labelled set (scored without its own example questions)


def _bad(path: Path, line: int | None, message: str) -> InputError:
    where = f"{path}:{line}" if line else str(path)
    return InputError("invalid_file", f"{where}: {message}")


def load_queries(path: str | Path) -> list[LabelledQuery]:
    """TSV ``qid<TAB>question`` (TREC topics style) or JSONL ``{"qid", "query", "gold", "out_of_scope"}`` or
    ``{"qid", "query", "urgent", "concept", "split"}``."""
    path = Path(path)
    if not path.is_file():
        raise _bad(path, None, "no such file")
    queries: list[LabelledQuery] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            item = _parse_query_line(path, number, line)
            item.source = str(path)
            if item.qid in seen:
                raise _bad(path, number, f"duplicate qid {item.qid!r}: each qid must be unique")
            seen.add(item.qid)
            queries.append(item)
    if not queries:
        raise _bad(path, None, "holds no queries (no labelled questions)")
    return queries


def load_urgent_questions(path: str | Path) -> list[LabelledQuery]:
    """``load_queries``, where every question must say whether it is ``urgent``."""
    queries = load_queries(path)
    for item in queries:
        if item.urgent is None:
            raise _bad(Path(path), None, f"question {item.qid!r}: urgent must be true or false")
    return queries


def _parse_query_line(path: Path, number: int, line: str) -> LabelledQuery:
    if line.lstrip().startswith("{"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _bad(path, number, f"invalid JSON ({exc.msg})") from None
        qid, query = record.get("qid"), record.get("query")
        gold = record.get("gold", [])
        out_of_scope = record.get("out_of_scope", False)
        urgent, split = record.get("urgent"), record.get("split", "dev")
        if not isinstance(qid, (str, int)) or not str(qid).strip():
            raise _bad(path, number, "needs a non-empty \"qid\"")
        if not isinstance(query, str) or not query.strip():
            raise _bad(path, number, "needs a non-empty string \"query\"")
        if not isinstance(gold, list) or not all(isinstance(g, str) and g for g in gold):
            raise _bad(path, number, "\"gold\" must be a list of non-empty strings")
        if not isinstance(out_of_scope, bool):
            raise _bad(path, number, "\"out_of_scope\" must be true or false")
        if out_of_scope and gold:
            raise _bad(path, number, "an out-of-scope query cannot have gold quotes")
        if urgent is not None and not isinstance(urgent, bool):
            raise _bad(path, number, "urgent must be true or false")
        if split not in SPLITS:
            raise _bad(path, number, f"split must be {', '.join(SPLITS)}, not {split!r}")
        return LabelledQuery(str(qid), query.strip(), gold, out_of_scope, urgent, str(record.get("concept", "")),
                             split, str(record.get("kind", "")))
    qid, tab, query = line.rstrip("\n").partition("\t")
    if not tab or not qid.strip() or not query.strip():
        raise _bad(path, number, "expected 'qid<TAB>question' or a JSON object; the line is not JSON")
    return LabelledQuery(qid.strip(), query.strip())


def load_qrels(path: str | Path, known_qids: set[str]):
    """TREC qrels ``qid 0 doc_id grade``; every qid must be one of the queries."""
    import ir_measures

    path = Path(path)
    if not path.is_file():
        raise _bad(path, None, "no such file")
    qrels = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 4:
                raise _bad(path, number, f"expected 'qid 0 doc_id grade', got {len(parts)} fields")
            qid, _, doc_id, grade = parts
            try:
                relevance = int(grade)
            except ValueError:
                raise _bad(path, number, f"grade must be an integer, not {grade!r}") from None
            if qid not in known_qids:
                raise _bad(path, number, f"unknown qid {qid!r}: it is not in the queries file")
            qrels.append(ir_measures.Qrel(qid, doc_id, relevance))
    if not qrels:
        raise _bad(path, None, "holds no judgements")
    return qrels


def holds_answer(text: str, start: int, end: int, gold: list[str]) -> bool:
    """Whether ``text[start:end]`` (a sentence or list item) holds a gold quote, or covers most of one (a quote that
    runs over two sentences): what an answering sentence must do."""
    for quote in gold:
        position = text.find(quote)
        while position >= 0:
            if min(end, position + len(quote)) - max(start, position) > len(quote) / 2:
                return True
            position = text.find(quote, position + 1)
    return False
