"""Documents in, passages out: corpus loading with citation metadata, the splitter with exact spans, a corpus's own
files, and the one reader of labelled questions about a corpus."""

from qa.corpus.documents import Corpus, Document, corpus_hash, load_corpus
from qa.corpus.files import builtin_corpus, corpus_file, resolve_corpus_files
from qa.corpus.questions import LabelledQuery, load_qrels, load_queries, load_urgent_questions
from qa.corpus.splitter import Passage, SplitOptions, split_document, sub_unit_spans

__all__ = ["Corpus", "Document", "LabelledQuery", "Passage", "SplitOptions", "builtin_corpus", "corpus_file",
           "corpus_hash", "load_corpus", "load_qrels", "load_queries", "load_urgent_questions", "resolve_corpus_files",
           "split_document", "sub_unit_spans"]
