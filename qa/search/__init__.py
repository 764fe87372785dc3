"""The stages of a query, wired by ``Searcher``: analysis, candidates, fusion, confidence and presentation."""

from qa.search.analysis import AnalysedQuery, TermList, analyse, analyse_with_spelling, load_lay_terms
from qa.search.notices import Notices, UrgentCheck, read_notices
from qa.search.retrieval import RetrievalSettings, load_retrieval_settings
from qa.search.searcher import Evidence, Hit, Outcome, Searcher

__all__ = ["AnalysedQuery", "Evidence", "Hit", "Notices", "Outcome", "RetrievalSettings", "Searcher", "TermList",
           "UrgentCheck", "analyse", "analyse_with_spelling", "load_lay_terms", "load_retrieval_settings",
           "read_notices"]
