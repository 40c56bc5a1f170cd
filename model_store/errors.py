"""Errors of the model store (kept apart so the registry and the model kinds share them)."""


class ModelError(Exception):
    """A model is missing, malformed or not what its manifest says."""


class ModelIntegrityError(ModelError):
    """A model's files differ from its manifest: never loaded."""
