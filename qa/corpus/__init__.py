"""Documents in, passages out: corpus loading with citation metadata, and the splitter with exact spans."""

from qa.corpus.documents import Corpus, Document, corpus_hash, load_corpus
from qa.corpus.files import builtin_corpus, corpus_file, resolve_corpus_files
from qa.corpus.splitter import Passage, SplitOptions, split_document, sub_unit_spans

__all__ = ["Corpus", "Document", "Passage", "SplitOptions", "builtin_corpus", "corpus_file", "corpus_hash",
           "load_corpus", "resolve_corpus_files", "split_document", "sub_unit_spans"]
