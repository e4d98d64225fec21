"""User-facing errors.

Everything a user can fix (a bad recipe key, a malformed JSONL line, a missing
model) is raised as a :class:`KazftError`. The CLI prints its message as one
paragraph, without a traceback, and exits non-zero. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class KazftError(Exception):
    """An error the user can act on. ``str(err)`` is the whole message."""

    exit_code = 2


class RecipeError(KazftError):
    """A recipe that does not validate; carries every problem found."""

    def __init__(self, path: str, problems: Iterable[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"{path}: {n} problem{'s' if n != 1 else ''} in the recipe:\n{lines}")


class DataError(KazftError):
    """A bad input record or file; the message starts with ``file:line``."""


class ModelError(KazftError):
    """A model, adapter or bundle that cannot be used as asked."""


class Interrupted(KazftError):
    """Training stopped by a signal after saving a resumable checkpoint."""

    exit_code = 130
