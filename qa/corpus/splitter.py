"""Structure-aware passage splitter: headings become section paths, lists stay with their lead-ins.

Every passage is an exact slice ``document.text[start:end]``; nothing is rewritten or filled in.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from qa.corpus.documents import Document, is_reviewed_line

SPLITTER_VERSION = 4
SECTION_SEPARATOR = " › "

_BULLET = re.compile(r"^[ \t]*(?:[•\-*–·▪◦●]|\d{1,2}[.)])[ \t]+\S")
_MD_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)\]]*[ \t\n]+(?=[\"“(\[]?[A-Z0-9])")
_HEADING_MAX_WORDS = 14
_HEADING_MAX_CHARS = 100


@dataclass(frozen=True)
class SplitOptions:
    """Size bounds in characters: passages are merged up to ``target_chars`` and split above ``max_chars``."""

    target_chars: int = 800
    max_chars: int = 1000


@dataclass
class Passage:
    id: str
    doc_id: str
    start: int
    end: int
    text: str
    section: list[str] = field(default_factory=list)

    @property
    def section_path(self) -> str:
        return SECTION_SEPARATOR.join(self.section)

    def to_record(self) -> dict:
        return {"id": self.id, "doc_id": self.doc_id, "start": self.start, "end": self.end,
                "section": self.section, "text": self.text}

    @classmethod
    def from_record(cls, record: dict) -> Passage:
        return cls(record["id"], record["doc_id"], record["start"], record["end"], record["text"],
                   list(record["section"]))


@dataclass
class _Block:
    kind: str  # "para" | "list" | "heading"
    start: int
    end: int
    level: int = 0
    section: tuple[str, ...] = ()
    barrier_before: bool = False  # dropped content lies between this block and the previous one


def split_document(document: Document, options: SplitOptions = SplitOptions()) -> list[Passage]:
    """Split one document into passages with section paths and exact spans."""
    blocks = _section_blocks(document)
    units = _units(document.text, blocks)
    spans = _merge(document.text, units, options)
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    for start, end, section in spans:
        for piece_start, piece_end in _split_long(document.text, start, end, options.max_chars):
            text = document.text[piece_start:piece_end]
            digest = hashlib.sha256(f"{document.id}\0{text}".encode()).hexdigest()[:12]
            seen[digest] = seen.get(digest, 0) + 1
            suffix = "" if seen[digest] == 1 else f"-{seen[digest]}"
            passages.append(Passage(f"{document.id}:{digest}{suffix}", document.id, piece_start, piece_end,
                                    text, list(section)))
    return passages


def _lines(text: str):
    """(start, end) of each line, without its newline."""
    position = 0
    for line in text.split("\n"):
        yield position, position + len(line)
        position += len(line) + 1


def _normalise(value: str) -> str:
    return " ".join(value.replace("\u00a0", " ").split()).casefold()


def _is_boilerplate(line: str, patterns: list[re.Pattern]) -> bool:
    stripped = line.strip()
    return is_reviewed_line(stripped) or any(p.fullmatch(stripped) for p in patterns)


def _raw_blocks(document: Document):
    """Yield (kind, start, end, barrier_before) for blank-line separated runs of content lines."""
    text = document.text
    patterns = [re.compile(p, re.I) for p in document.boilerplate]
    title = _normalise(document.title)
    lines = list(_lines(text))
    # Site chrome before the title line is never content.
    first = 0
    for number, (start, end) in enumerate(lines):
        heading = _MD_HEADING.match(text[start:end])
        candidate = heading.group(2) if heading else text[start:end]
        if title and _normalise(candidate) == title:
            first = number + 1
            break
    run: list[tuple[int, int]] = []
    barrier = first > 0
    for start, end in lines[first:] + [(len(text), len(text))]:
        line = text[start:end]
        blank = not line.strip()
        chrome = not blank and _is_boilerplate(line, patterns)
        if (blank or chrome or start == len(text)) and run:
            yield from _classify_run(text, run, barrier)
            run, barrier = [], False
        if chrome:
            barrier = True
        elif not blank:
            run.append((start, end))


def _classify_run(text: str, run: list[tuple[int, int]], barrier: bool):
    """Split a run of lines into paragraph and list parts; list items keep their continuation lines."""
    parts: list[list] = []
    for start, end in run:
        is_bullet = bool(_BULLET.match(text[start:end]))
        continues_item = bool(parts) and parts[-1][0] == "list" and text[start:end][:1] in " \t"
        kind = "list" if is_bullet or continues_item else "para"
        if parts and parts[-1][0] == kind:
            parts[-1][2] = end
        else:
            parts.append([kind, start, end])
    for index, (kind, start, end) in enumerate(parts):
        yield kind, start, end, barrier and index == 0


def _heading_level(document: Document, line: str, single_line_block: bool) -> int:
    """Level of a heading line, or 0 when the line is body text."""
    stripped = " ".join(line.split())
    hinted = document.heading_levels.get(stripped)
    if hinted:
        return hinted
    if document.format == "markdown":
        match = _MD_HEADING.match(line)
        return len(match.group(1)) if match else 0
    if document.format == "html" or not single_line_block:
        return 0
    words = stripped.split()
    looks_like_heading = (
        0 < len(words) <= _HEADING_MAX_WORDS
        and len(stripped) <= _HEADING_MAX_CHARS
        and (stripped[0].isupper() or stripped[0].isdigit())
        and not stripped.endswith((".", ",", ";", ":", "!"))
    )
    return 2 if looks_like_heading else 0


def _section_blocks(document: Document) -> list[_Block]:
    """Blocks in order, each knowing its section path; headings update the path."""
    text = document.text
    stack: list[tuple[int, str]] = []
    blocks: list[_Block] = []
    for kind, start, end, barrier in _raw_blocks(document):
        line = text[start:end]
        level = _heading_level(document, line, "\n" not in line) if kind == "para" else 0
        if level:
            match = _MD_HEADING.match(line)
            name = " ".join((match.group(2) if match else line).split())
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, name))
            blocks.append(_Block("heading", start, end, level, barrier_before=barrier))
            continue
        section = tuple(name for _, name in stack)
        blocks.append(_Block(kind, start, end, section=section, barrier_before=barrier))
    return blocks


def _sentence_starts(text: str, start: int, end: int) -> list[int]:
    return [start] + [start + m.end() for m in _SENTENCE_END.finditer(text[start:end])]


def _units(text: str, blocks: list[_Block]) -> list[_Block]:
    """Lead-ins join their lists; lead-ins whose list was lost are trimmed away, never left alone."""
    units: list[_Block] = []
    barrier = False
    for index, block in enumerate(blocks):
        barrier = barrier or block.barrier_before
        if block.kind == "heading":
            barrier = True
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        joins_list = (
            following is not None and following.kind == "list" and not following.barrier_before
            and block.kind == "para"
        )
        if block.kind == "list" and units and units[-1].kind == "lead" and not barrier:
            units[-1].end = block.end
            units[-1].kind = "list"
            continue
        if block.kind == "para" and joins_list:
            units.append(_Block("lead", block.start, block.end, section=block.section, barrier_before=barrier))
            barrier = False
            continue
        end = block.end
        if block.kind == "para" and text[block.start:block.end].rstrip().endswith(":"):
            # Its list was lost in capture: keep the sentences before the lead-in only.
            starts = _sentence_starts(text, block.start, block.end)
            end = _rstrip(text, block.start, starts[-1])
            if end <= block.start:
                barrier = True
                continue
            units.append(_Block(block.kind, block.start, end, section=block.section, barrier_before=barrier))
            barrier = True
            continue
        if block.kind == "list" and units and units[-1].kind == "list" and not barrier \
                and units[-1].section == block.section:
            units[-1].end = block.end  # list items separated by blank lines are still one list
            continue
        units.append(_Block(block.kind, block.start, end, section=block.section, barrier_before=barrier))
        barrier = False
    return units


def _rstrip(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _merge(text: str, units: list[_Block], options: SplitOptions) -> list[tuple[int, int, tuple[str, ...]]]:
    """Greedily merge neighbouring units of one section up to the target size."""
    spans: list[list] = []
    for unit in units:
        if spans:
            last = spans[-1]
            fits = unit.end - last[0] <= options.target_chars
            if fits and not unit.barrier_before and last[2] == unit.section:
                last[1] = unit.end
                continue
        spans.append([unit.start, unit.end, unit.section])
    return [(_lstrip(text, start, end), _rstrip(text, start, end), section) for start, end, section in spans]


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split an over-long span at sentence or line boundaries into pieces of at most ``max_chars``."""
    if end - start <= max_chars:
        return [(start, end)]
    line_starts = {m.end() + start for m in re.finditer(r"\n", text[start:end])}
    cuts = sorted(set(_sentence_starts(text, start, end)) | line_starts)
    pieces: list[tuple[int, int]] = []
    piece_start = start
    for cut in cuts[1:] + [end]:
        if cut - piece_start > max_chars and cut != piece_start:
            previous = max((c for c in cuts if piece_start < c < cut), default=None)
            if previous is not None:
                pieces.append((piece_start, _rstrip(text, piece_start, previous)))
                piece_start = previous
    pieces.append((piece_start, end))
    result = []
    for piece_start, piece_end in pieces:
        # A single sentence longer than max_chars is cut at a word boundary.
        while piece_end - piece_start > max_chars:
            cut = text.rfind(" ", piece_start, piece_start + max_chars)
            cut = cut if cut > piece_start else piece_start + max_chars
            result.append((piece_start, _rstrip(text, piece_start, cut)))
            piece_start = cut + 1 if text[cut:cut + 1] == " " else cut
        result.append((_lstrip(text, piece_start, piece_end), piece_end))
    return [(s, e) for s, e in result if e > s]


def _lstrip(text: str, start: int, end: int) -> int:
    while start < end and text[start].isspace():
        start += 1
    return start


def sub_unit_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) in ``text`` of each sentence and list item of a passage: the candidate answers within it.

    Lead-ins (ending in ':') and questions are left out: a question in a guide is not an answer to one. A
    passage of a single unit has none: the passage itself is the answer.
    """
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        if not line.strip():
            continue
        if _BULLET.match(line):
            marker = re.match(r"^[ \t]*(?:[•\-*–·▪◦●]|\d{1,2}[.)])\s+", line)
            start, end = line_start + marker.end(), _rstrip(text, line_start, line_end)
            if end > start and not text[start:end].endswith("?"):
                spans.append((start, end))
            continue
        starts = _sentence_starts(text, line_start, line_end) + [line_end]
        for start, end in zip(starts, starts[1:]):
            start, end = _lstrip(text, start, end), _rstrip(text, start, end)
            if end > start and not text[start:end].endswith((":", "?")):
                spans.append((start, end))
    return spans if len(spans) > 1 else []


def sub_units(text: str) -> list[str]:
    """The sentences and list items of a passage (see ``sub_unit_spans``)."""
    return [text[start:end] for start, end in sub_unit_spans(text)]
