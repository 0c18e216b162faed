"""Errors a user can act on. The CLI and UI turn them into one readable line."""


class RagError(Exception):
    """Base class: the message says what went wrong and what to do."""


class InputError(RagError):
    """The user's question or file cannot be used."""


class IndexEmptyError(RagError):
    """There is nothing indexed to answer from."""


class ModelError(RagError):
    """A model file is missing, corrupt, or cannot be loaded."""


class GenerationError(RagError):
    """The language model failed while answering."""


class StoreError(RagError):
    """The vector store cannot be reached or is inconsistent."""
