"""Errors the engine raises for things a user can fix. Their message is one clear line."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class: the message is meant to be shown to the user as it is."""


class SettingsError(WorkbenchError, ValueError):
    """A setting has a value the engine cannot use; the message says how to fix it."""


class ModelSourceError(WorkbenchError):
    """``--model`` names nothing we can load (missing file, empty folder, unknown id)."""


class ModelLoadError(WorkbenchError):
    """The model was found but could not be loaded (corrupt file, out of memory, ...)."""


class PromptError(WorkbenchError, ValueError):
    """The prompt cannot be used (empty, longer than the model's context)."""
