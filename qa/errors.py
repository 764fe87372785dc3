"""Errors that carry a message meant for the person who caused them."""


class QAError(Exception):
    """Base class: the message is complete and safe to show as is."""

    code = "error"


class CorpusError(QAError):
    code = "corpus_error"


class IndexLoadError(QAError):
    """The index is missing, corrupt, stale or built for another model."""

    code = "index_error"


class InputError(QAError):
    """A request or query file is malformed; ``code`` names what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def to_dict(self) -> dict:
        return {"code": self.code, "message": str(self)}


class ModelError(QAError):
    code = "model_error"
