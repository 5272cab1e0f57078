"""The one user-error type.

Anything a user can get wrong (a config key, a file, an input name, a device address) is raised
as `EdgecError` with a message that names the culprit. The CLI prints the message without a
traceback and exits 2; every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class EdgecError(Exception):
    """A problem with what the user handed edgec. `str(err)` is the whole message."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")


class GateFailure(Exception):
    """A gate or a verification did not pass: exit 1, not a user error."""

    exit_code = 1
