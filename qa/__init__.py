"""Retrieval-based question answering over patient-education guides: verbatim, cited passages only."""

__version__ = "0.1.0"
