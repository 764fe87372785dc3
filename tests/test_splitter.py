"""The structure-aware splitter, on the real guide and on small synthetic documents.

No model is loaded here: the splitter works on text alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from qa.corpus import Document, load_corpus
from qa.corpus.splitter import SECTION_SEPARATOR, Passage, SplitOptions, split_document
from tests.support import ROOT

GUIDE_ID = "relapsed-refractory-all"
GUIDE_FILE = ROOT / "corpus" / f"{GUIDE_ID}.txt"
GUIDE_META = ROOT / "corpus" / f"{GUIDE_ID}.meta.json"

CHROME = ("Skip to Main Content", "Welcome to", "Together is a new resource", "Learn More", "Blog",
          "Related Content", "Reviewed:")
LOST_LIST_LEAD_INS = (
    "Doctors diagnose relapsed ALL with:",
    "Medicines may include:",
    "Your care team may include:",
    "Common side effects include:",
    "Treatment may include:",
)
CNS_SECTION = SECTION_SEPARATOR.join([
    "Treatment of relapsed/ refractory ALL",
    "Site of ALL relapse",
    "Central nervous system (brain and spinal cord)",
])
SYMPTOMS = ("Fatigue", "Pain in the bones or joints", "Fever", "Frequent infections",
            "Easy bruising and bleeding that is hard to stop", "Tiny, flat, dark-red skin spots (petechiae)",
            "Lumps in the neck, underarm, stomach, or groin", "Pain or fullness below the rib cage", "Paleness",
            "Loss of appetite", "Shortness of breath", "Enlarged liver", "Enlarged spleen")


# --------------------------------------------------------------------------- the real guide


@pytest.fixture(scope="module")
def guide_source() -> str:
    with GUIDE_FILE.open(encoding="utf-8", newline="") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def guide_document() -> Document:
    corpus = load_corpus(ROOT / "corpus")
    (document,) = [d for d in corpus.documents if d.id == GUIDE_ID]
    return document


@pytest.fixture(scope="module")
def guide_passages(guide_document) -> list[Passage]:
    passages = split_document(guide_document)
    assert len(passages) >= 10
    return passages


def _heading_lines() -> set[str]:
    meta = json.loads(GUIDE_META.read_text(encoding="utf-8"))
    return {" ".join(h.split()) for h in meta["headings"]} | {" ".join(meta["title"].split())}


def test_guide_document_is_the_file_itself(guide_document, guide_source):
    assert guide_document.text == guide_source


@pytest.mark.parametrize("chrome", CHROME)
def test_no_site_chrome_in_any_passage(guide_passages, chrome):
    offenders = [p.id for p in guide_passages if chrome.casefold() in p.text.casefold()]
    assert offenders == [], f"{chrome!r} leaked into {offenders}"


def test_no_heading_only_passage(guide_passages):
    headings = _heading_lines()
    for passage in guide_passages:
        normalised = " ".join(passage.text.split())
        assert normalised not in headings, f"passage {passage.id} is only the heading {normalised!r}"
        assert passage.text.strip(), f"passage {passage.id} is empty"


def test_every_passage_is_an_exact_slice_of_the_file(guide_passages, guide_source):
    for passage in guide_passages:
        assert 0 <= passage.start < passage.end <= len(guide_source)
        assert guide_source[passage.start:passage.end] == passage.text, passage.id
        assert passage.text == passage.text.strip(), f"passage {passage.id} has edge whitespace"


def test_passages_are_in_document_order_and_do_not_overlap(guide_passages):
    for before, after in zip(guide_passages, guide_passages[1:]):
        assert before.end <= after.start


def test_symptoms_list_stays_with_its_lead_in(guide_passages):
    lead_in = "Signs and symptoms of relapsed or refractory ALL include:"
    holders = [p for p in guide_passages if lead_in in p.text]
    assert len(holders) == 1
    text = holders[0].text
    for symptom in SYMPTOMS:
        assert f"• {symptom}" in text, f"symptom {symptom!r} is not with its lead-in"
    assert holders[0].section == ["Symptoms of relapsed/ refractory ALL"]


@pytest.mark.parametrize("lead_in", LOST_LIST_LEAD_INS)
def test_lost_list_lead_ins_never_end_or_form_a_passage(guide_passages, lead_in):
    for passage in guide_passages:
        text = passage.text.strip()
        assert text != lead_in
        assert not text.endswith(lead_in), f"passage {passage.id} ends with the lost-list lead-in {lead_in!r}"


def test_no_passage_ends_with_a_dangling_lead_in(guide_passages):
    for passage in guide_passages:
        assert not passage.text.rstrip().endswith(":"), f"passage {passage.id} ends with a lead-in: {passage.text!r}"
        lines = [line for line in passage.text.splitlines() if line.strip()]
        assert not (len(lines) == 1 and lines[0].rstrip().endswith(":")), passage.id


@pytest.mark.parametrize("kept", [
    "Treatment for relapsed or refractory leukemia is often more intensive than for newly diagnosed ALL.",
    "A team of health care providers can support emotional, social, and spiritual needs of patients and families.",
    "Early palliative care can help with pain and other side effects.",
    "Patients with relapsed or refractory ALL may need high doses of chemotherapy.",
])
def test_sentences_before_a_lost_list_lead_in_are_kept(guide_passages, kept):
    assert any(kept in p.text for p in guide_passages), f"{kept!r} was dropped with its lead-in"


def test_cns_bullets_have_the_full_section_path(guide_passages):
    holders = [p for p in guide_passages if "intrathecal chemotherapy" in p.text]
    assert len(holders) == 1
    assert holders[0].section_path == CNS_SECTION
    assert "Transplant for early brain and spinal cord relapse" in holders[0].text


def test_reviewed_date_becomes_metadata_not_text(guide_document, guide_passages):
    assert guide_document.reviewed == "November 2022"
    assert not any("November 2022" in p.text for p in guide_passages)


def test_mrd_passage_is_whole(guide_passages):
    holders = [p for p in guide_passages if "MRD means a small number of cells remain" in p.text]
    assert len(holders) == 1
    assert holders[0].section_path.endswith("Length of the first complete remission")


def test_ids_are_unique_and_stable(guide_passages):
    ids = [p.id for p in guide_passages]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(f"{GUIDE_ID}:") for i in ids)
    again = split_document(load_corpus(ROOT / "corpus").documents[0])
    assert [p.id for p in again] == ids
    assert [(p.start, p.end, p.section) for p in again] == [(p.start, p.end, p.section) for p in guide_passages]


def test_ids_are_stable_across_processes(guide_passages):
    """Ids must not depend on Python's per-process hash seed."""
    script = ("from qa.corpus import load_corpus; from qa.corpus.splitter import split_document; "
              "print('\\n'.join(p.id for p in split_document(load_corpus('corpus').documents[0])))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [p.id for p in guide_passages]


# --------------------------------------------------------------------------- synthetic documents


DEFAULT_OPTIONS = SplitOptions()


def _split(text: str, title: str = "Doc", fmt: str = "text", options: SplitOptions = DEFAULT_OPTIONS,
           **kwargs) -> list[Passage]:
    document = Document(id="doc", text=text, title=title, format=fmt, **kwargs)
    passages = split_document(document, options)
    for passage in passages:
        assert text[passage.start:passage.end] == passage.text
        assert passage.end - passage.start <= options.max_chars
    return passages


def test_markdown_headings_give_section_paths():
    text = ("# Handbook\n\nIntro text about the handbook.\n\n## Getting started\n\nFirst steps are easy.\n\n"
            "### Installing\n\nRun the installer.\n\n## Next steps\n\nKeep going.\n")
    passages = _split(text, title="Something else", fmt="markdown",
                      options=SplitOptions(target_chars=10, max_chars=1000))
    sections = {p.text: p.section for p in passages}
    assert sections == {
        "Intro text about the handbook.": ["Handbook"],
        "First steps are easy.": ["Handbook", "Getting started"],
        "Run the installer.": ["Handbook", "Getting started", "Installing"],
        "Keep going.": ["Handbook", "Next steps"],
    }
    assert not any(p.text.lstrip().startswith("#") for p in passages)


def test_markdown_title_heading_is_not_a_passage():
    text = "# Handbook\n\nIntro text.\n\n## Part\n\nPart text.\n"
    passages = _split(text, title="Handbook", fmt="markdown", options=SplitOptions(target_chars=10))
    assert [(p.text, p.section) for p in passages] == [("Intro text.", []), ("Part text.", ["Part"])]


def test_html_headings_and_list_items(tmp_path):
    html = ("<!doctype html><html><head><title>Fever guide</title><style>p {color: red}</style></head>"
            "<body><nav><a href='/'>Home</a> Menu</nav><h1>Fever guide</h1>"
            "<h2>When to call</h2><p>Call the team if you see:</p>"
            "<ul><li>A fever over 38 degrees</li><li>Chills &amp; shaking</li></ul>"
            "<h2>At home</h2><h3>Resting</h3><p>Rest and drink fluids.</p>"
            "<script>var x = 1;</script></body></html>")
    (tmp_path / "fever.html").write_text(html, encoding="utf-8")
    (document,) = load_corpus(tmp_path).documents
    assert document.format == "html"
    assert document.title == "Fever guide"
    passages = split_document(document, SplitOptions(target_chars=10))
    by_section = {p.section_path: p.text for p in passages}
    assert set(by_section) == {"When to call", f"At home{SECTION_SEPARATOR}Resting"}
    call = by_section["When to call"]
    assert call.startswith("Call the team if you see:")
    assert "• A fever over 38 degrees" in call
    assert "• Chills & shaking" in call
    assert by_section[f"At home{SECTION_SEPARATOR}Resting"] == "Rest and drink fluids."
    for passage in passages:
        assert document.text[passage.start:passage.end] == passage.text
        for junk in ("Menu", "var x", "color: red", "Home"):
            assert junk not in passage.text


def test_list_directly_below_a_paragraph_joins_it():
    text = "Doc\n\nBefore you start\n\nPack these things:\n- a water bottle\n- a warm coat\n\nThen leave.\n"
    passages = _split(text, options=SplitOptions(target_chars=10))
    assert passages[0].text == "Pack these things:\n- a water bottle\n- a warm coat"
    assert passages[0].section == ["Before you start"]
    assert passages[1].text == "Then leave."


def test_list_after_blank_line_joins_its_lead_in():
    text = "Doc\n\nBring:\n\n  • socks\n  • shoes\n"
    (passage,) = _split(text)
    assert passage.text == "Bring:\n\n  • socks\n  • shoes"


def _sentences(count: int) -> list[str]:
    return [f"Sentence number {i} tells the reader about item {i * 7 % 13} and why it matters so much here."
            for i in range(count)]


@pytest.mark.parametrize("max_chars", [1000, 300])
def test_long_paragraph_is_split_at_sentence_boundaries(max_chars):
    sentences = _sentences(80)
    paragraph = " ".join(sentences)
    assert len(paragraph) > 5000
    text = f"Doc\n\n{paragraph}\n"
    passages = _split(text, options=SplitOptions(target_chars=min(500, max_chars), max_chars=max_chars))
    assert len(passages) >= len(paragraph) // max_chars
    for passage in passages:
        assert len(passage.text) <= max_chars
        assert passage.text.startswith("Sentence number "), passage.text[:40]
        assert passage.text.endswith("much here."), passage.text[-40:]
    # Nothing lost, nothing duplicated.
    assert " ".join(p.text for p in passages) == paragraph


def test_long_sentence_without_punctuation_is_still_split():
    words = [f"word{i % 97}" for i in range(1200)]
    sentence = " ".join(words)
    assert len(sentence) > 5000
    text = f"Doc\n\n{sentence}\n"
    passages = _split(text, options=SplitOptions(max_chars=1000))
    assert len(passages) >= 6
    assert all(len(p.text) <= 1000 for p in passages)
    # Cut at word boundaries: the words come back whole and in order.
    assert [w for p in passages for w in p.text.split()] == words


def test_long_token_without_spaces_is_still_split():
    blob = "x" * 2500
    passages = _split(f"Doc\n\n{blob}\n", options=SplitOptions(max_chars=1000))
    assert "".join(p.text for p in passages) == blob


def test_crlf_line_endings_keep_exact_spans():
    text = ("Doc\r\n\r\nFirst section\r\n\r\nA paragraph on one line.\r\nAnd its second line.\r\n\r\n"
            "Things to bring:\r\n  • socks\r\n  • shoes\r\n\r\nSecond section\r\n\r\nLast words here.\r\n")
    passages = _split(text, options=SplitOptions(target_chars=10))
    assert [p.section for p in passages] == [["First section"], ["First section"], ["Second section"]]
    assert passages[0].text == "A paragraph on one line.\r\nAnd its second line."
    assert passages[1].text == "Things to bring:\r\n  • socks\r\n  • shoes"
    assert passages[2].text == "Last words here."
    for passage in passages:
        assert not passage.text.endswith(("\r", "\n")) and not passage.text.startswith(("\r", "\n"))


def test_crlf_long_text_is_split_with_exact_spans():
    paragraph = "\r\n".join(_sentences(60))
    text = f"Doc\r\n\r\n{paragraph}\r\n"
    passages = _split(text, options=SplitOptions(max_chars=700))
    assert len(passages) > 1
    for passage in passages:
        assert "\r" not in passage.text[-1:] and passage.text.endswith("much here.")


def test_crlf_guide_keeps_exact_spans(guide_source, guide_document):
    crlf = guide_source.replace("\r\n", "\n").replace("\n", "\r\n")
    document = Document(id="crlf", text=crlf, title=guide_document.title, reviewed=guide_document.reviewed,
                        heading_levels=guide_document.heading_levels, boilerplate=guide_document.boilerplate)
    passages = split_document(document)
    lf = split_document(guide_document)
    assert len(passages) == len(lf)
    for passage, original in zip(passages, lf):
        assert crlf[passage.start:passage.end] == passage.text
        assert passage.text.replace("\r\n", "\n") == original.text
        assert passage.section == original.section


@pytest.mark.parametrize("text", ["", "\n", "   \n\n\t\n", "\r\n\r\n"])
def test_empty_documents_give_no_passages(text):
    assert _split(text) == []


def test_chrome_only_document_gives_no_passages():
    text = "Skip to Main Content\n\nLearn More\nBlog\n\nReviewed: May 2020\n"
    assert _split(text, boilerplate=["Skip to (main )?content", "Learn More", "Blog"]) == []


def test_section_separator_never_appears_inside_ids():
    passages = _split("Doc\n\nA\n\nSome text.\n")
    assert all(re.fullmatch(r"doc:[0-9a-f]{12}(-\d+)?", p.id) for p in passages)


def test_duplicate_texts_get_distinct_ids():
    text = "Doc\n\nFirst\n\nSame words.\n\nSecond\n\nSame words.\n"
    passages = _split(text)
    assert [p.text for p in passages] == ["Same words.", "Same words."]
    assert len({p.id for p in passages}) == 2


# --------------------------------------------------------------------------- generated documents


def _generated_document(seed: int) -> tuple[str, list[str], list[str], list[str]]:
    """A random text document: (text, headings, list items, body sentences), with chrome and odd spacing.

    Body sentences never end with "?": in plain text a short one-line question is taken for a heading.
    """
    import random

    rng = random.Random(seed)
    newline = "\r\n" if seed % 5 == 0 else "\n"
    words = ("care team child fever blood marrow spleen liver therapy relapse treatment plan nurse doctor "
             "infection visit clinic dose medicine rest water sleep").split()
    headings, items, sentences = [], [], []

    def sentence() -> str:
        text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 25))).capitalize() + rng.choice(".!")
        sentences.append(text)
        return text

    blocks = ["Skip to Main Content", "Generated guide"]
    for number in range(rng.randint(1, 12)):
        kind = rng.choice(["heading", "para", "para", "list", "lead+list", "long", "chrome"])
        if kind == "heading":
            heading = f"Section {seed}-{number} about {rng.choice(words)}"
            headings.append(heading)
            blocks.append(heading)
        elif kind == "para":
            blocks.append(" ".join(sentence() for _ in range(rng.randint(1, 5))))
        elif kind == "long":
            blocks.append(" ".join(sentence() for _ in range(rng.randint(30, 60))))
        elif kind == "chrome":
            blocks.append(rng.choice(["Learn More", "Blog", "Reviewed: May 2021", "Related Content"]))
        else:
            bullets = []
            for _ in range(rng.randint(1, 6)):
                item = f"item {seed}-{number}-{len(items)} " + " ".join(rng.choice(words) for _ in range(4))
                items.append(item)
                bullets.append(f"{rng.choice(['  • ', '- ', '* ', '1. '])}{item}")
            lead_words = " ".join(rng.choice(words) for _ in range(rng.randint(2, 8))).capitalize()
            lead = [f"{lead_words} include:"] if kind == "lead+list" else []
            blocks.append(newline.join(lead + bullets))
    separator = newline * rng.choice([2, 2, 3])
    return separator.join(blocks) + newline, headings, items, sentences


@pytest.mark.parametrize("seed", range(60))
def test_generated_documents_keep_every_invariant(seed):
    text, headings, items, sentences = _generated_document(seed)
    options = SplitOptions(target_chars=400, max_chars=700)
    document = Document(id=f"gen{seed}", text=text, title="Generated guide",
                        boilerplate=["Skip to (main )?content", "Learn More", "Blog", "Related Content"])
    passages = split_document(document, options)
    joined = "\n".join(p.text for p in passages)
    for passage in passages:
        assert text[passage.start:passage.end] == passage.text
        assert 0 < len(passage.text) <= options.max_chars
        assert passage.text == passage.text.strip()
        assert " ".join(passage.text.split()) not in headings
        for chrome in ("Skip to Main Content", "Learn More", "Blog", "Reviewed:", "Related Content"):
            assert chrome not in passage.text
        assert set(passage.section) <= set(headings)
    for before, after in zip(passages, passages[1:]):
        assert before.end <= after.start
    for item in items:
        assert item in joined, f"list item {item!r} was lost"
    for sentence in sentences:
        if len(sentence) <= options.max_chars:
            assert " ".join(sentence.split()) in " ".join(joined.split()), f"sentence {sentence[:40]!r} was lost"
    assert len({p.id for p in passages}) == len(passages)
