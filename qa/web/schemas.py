"""The API contract: pydantic models that validate requests and build every response, so that the code and
/openapi.json cannot drift."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from qa.errors import InputError
from qa.web.validation import parse_flag, parse_k, parse_query

# Python's str.isspace() characters: a query made only of these (or holding a NUL) is refused as empty/invalid.
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
QUERY_PATTERN = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"
_STRICT = ConfigDict(regex_engine="python-re", extra="forbid")  # responses: exactly the documented fields
_OPEN = ConfigDict(regex_engine="python-re")  # requests: unknown parameters are ignored


class ErrorDetail(BaseModel):
    model_config = _STRICT
    code: str = Field(description="Stable machine-readable error code, e.g. invalid_k or uri_too_long.")
    message: str = Field(description="What is wrong and the limit, for a person.")


class ErrorBody(BaseModel):
    model_config = _STRICT
    error: ErrorDetail


class Citation(BaseModel):
    model_config = _STRICT
    title: str
    publisher: str
    section: str
    reviewed: str
    url: str
    text: str = Field(description="A ready-to-paste citation.")


class _Ranked(BaseModel):
    model_config = _STRICT
    rank: int = Field(description="1 for the best passage.")
    score: float = Field(description="Rank-fusion score: orders the results, no meaning across queries.")


class PassageBody(BaseModel):
    model_config = _STRICT
    passage_id: str = Field(description="Stable while the passage's text is unchanged.")
    doc_id: str
    text: str = Field(description="Exactly document_text[start:end] of the document doc_id.")
    section: str
    start: int
    end: int
    citation: Citation


class Result(PassageBody, _Ranked):
    highlights: list[list[int]] = Field(description="[start, end) character offsets into text of the matched "
                                                    "query words or quoted phrase.")
    answer: list[int] | None = Field(description="[start, end) character offsets into text of the sentence or list "
                                                 "item that best answers the question; null when the passage has "
                                                 "no smaller unit (the whole passage is the answer).")
    low_confidence: bool = Field(False, description="Present and true when the passage is below the threshold.")


class Notice(BaseModel):
    model_config = _STRICT
    kind: str = Field(description="\"urgent\": the question describes an emergency.")
    text: str = Field(description="The operator's fixed notice text.")


class Answer(BaseModel):
    """One question's answer: the fields a search response and a batch entry share."""

    model_config = _STRICT
    query: str
    answered: bool = Field(description="false when no passage is a confident match; results is then empty unless "
                                       "include_low_confidence was asked for.")
    message: str | None = Field(None, description="The abstention text, when answered is false.")
    notice: Notice | None = Field(None, description="Present when the question describes an emergency.")
    phrase_matched: bool | None = Field(None, description="Present when the question quotes words: true when the "
                                        "results hold them exactly; false when no passage does, and then the results "
                                        "are the closest passages for the same words unquoted (none, with the "
                                        "no-phrase-match message, for a query that is only quoted words).")
    results: list[Result]


class SearchResponse(Answer):
    took_ms: float
    index_id: str = Field(description="Short id of the index that answered: replay a query against it.")


class BatchEntry(BaseModel):
    model_config = _STRICT
    id: Any = Field(description="The id the request gave, or the query's position.")
    error: ErrorDetail | None = Field(None, description="Present instead of the answer when this query is invalid.")
    query: str | None = None
    answered: bool | None = None
    message: str | None = None
    notice: Notice | None = None
    phrase_matched: bool | None = None
    results: list[Result] | None = None


class BatchResponse(BaseModel):
    model_config = _STRICT
    results: list[BatchEntry]
    took_ms: float
    index_id: str


class Health(BaseModel):
    model_config = _STRICT
    status: str
    passages: int
    model: str
    built_at: str


class Ready(BaseModel):
    model_config = _STRICT
    ready: bool
    index_id: str | None = None
    model: str | None = None
    passages: int | None = None
    built_at: str | None = None


def dump(model: BaseModel) -> dict:
    """A response model as the JSON object sent: fields never set (an absent message or notice) are left out."""
    return model.model_dump(mode="json", exclude_unset=True)


@lru_cache(maxsize=32)
def request_models(max_chars: int, max_k: int, default_k: int, max_batch: int) -> tuple[type, type, Any]:
    """The search and batch request models for these limits. Their validators give the API's error codes;
    the Field constraints are what the OpenAPI document shows, and they are checked again after."""

    def _options(data: dict) -> dict:
        return {"k": parse_k(data.get("k"), default_k, max_k),
                "include_low_confidence": parse_flag(data.get("include_low_confidence"), "include_low_confidence")}

    def _search(cls, data: Any) -> dict:
        return {"q": parse_query(data.get("q"), max_chars), **_options(data)}

    def _batch(cls, data: Any) -> dict:
        queries = data.get("queries")
        if not isinstance(queries, list) or not queries:
            raise InputError("invalid_queries", "'queries' must be a non-empty list of {\"id\", \"q\"} objects")
        if len(queries) > max_batch:
            raise InputError("too_many_queries", f"'queries' holds {len(queries)} queries; the limit is {max_batch}")
        return {"queries": queries, **_options(data)}  # each query is checked on its own: one bad one fails alone

    options = {  # null means the default, as an absent field does
        "k": (int | None, Field(default_k, ge=1, le=max_k, description="Passages to return.")),
        "include_low_confidence": (bool | None, Field(False, description="Return the closest passages even "
                                                      "when the service abstains, marked low_confidence.")),
    }
    query = (str, Field(min_length=1, max_length=max_chars, pattern=QUERY_PATTERN,
                        description="The question, in the family's own words; \"quotes\" for an exact phrase."))
    item = create_model("BatchQuery", __config__=_OPEN, id=(Any, Field(None, description="Echoed back.")), q=query)
    search = create_model("SearchRequest", __config__=_OPEN, q=query, **options,
                          __validators__={"checked": model_validator(mode="before")(_search)})
    batch = create_model("BatchRequest", __config__=_OPEN,
                         queries=(list[item], Field(min_length=1, max_length=max_batch)), **options,
                         __validators__={"checked": model_validator(mode="before")(_batch)})
    return search, batch, lambda data: _batch(batch, data)


def _models(config) -> tuple[type, type, Any]:
    return request_models(config["MAX_QUERY_CHARS"], config["MAX_K"], config["DEFAULT_K"], config["MAX_BATCH"])


def _validated(model: type, source: dict) -> BaseModel:
    try:
        return model.model_validate(source)
    except ValidationError as exc:  # only reached if a constraint is stricter than the parse_* checks
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "request"
        raise InputError("invalid_parameter", f"'{name}': {first['msg']}") from None


def search_request(source: dict, config) -> tuple[str, int, bool]:
    """(q, k, include_low_confidence) from query parameters or a JSON body, or InputError."""
    source = {key: source.get(key) for key in ("q", "k", "include_low_confidence")}
    parsed = _validated(_models(config)[0], source)
    return parsed.q, parsed.k, parsed.include_low_confidence


def batch_request(body: dict, config) -> tuple[list, int, bool]:
    """(raw queries, k, include_low_confidence) of a batch body, or InputError for the whole request.

    Runs the batch model's own validator, not its item constraints: a bad query gets its own error entry
    and the others are still answered."""
    checked = _models(config)[2](body)
    return checked["queries"], checked["k"], checked["include_low_confidence"]


def query_item(item: object, position: int, config) -> str:
    """One batch query, checked like a single search's q."""
    if not isinstance(item, dict):
        raise InputError("invalid_query", f"queries[{position}] must be an object with \"id\" and \"q\"")
    return parse_query(item.get("q"), config["MAX_QUERY_CHARS"], name=f"queries[{position}].q")
