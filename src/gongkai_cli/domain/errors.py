"""Error types. Each carries its process exit code (domain/exitcodes.py).

Use cases raise these; exactly one handler at the CLI edge turns them into a
one-line Chinese message on stderr and an exit code.
"""

from .exitcodes import ExitCode


class GongkaiError(Exception):
    """Base class: a failure the user can understand from its message alone."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(GongkaiError):
    """Bad command-line input or a malformed file."""

    exit_code = ExitCode.USAGE


class NotFound(GongkaiError):
    """A task, plan or note that does not exist."""

    exit_code = ExitCode.NOT_FOUND


class StoreError(GongkaiError):
    """The database cannot be used: locked, corrupt, read-only, too new."""

    exit_code = ExitCode.STORE


class NotPermitted(GongkaiError):
    """The login may not make this change: a unit writing another unit's work, a clerk
    doing what only the office may do (team mode). Nothing was written."""

    exit_code = ExitCode.NOT_PERMITTED
