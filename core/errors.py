"""One root exception for everything the tool reports to a user.

Each subclass carries the context needed for a one-line, actionable message. Library errors
(docker, pymongo, smtplib...) are translated into these once, at the boundary, with ``raise ... from e``.
The CLI prints ``str(error)`` and exits with ``error.exit_code``.
"""

from __future__ import annotations

import errno
import signal


class MlopsError(Exception):
    """Root of every error the ``mlops`` tool raises on purpose."""

    exit_code: int = 1


class UsageError(MlopsError):
    """Bad input from the user: a file, a field or an argument (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """``mlops.yaml`` or an ``MLOPS_*`` variable is invalid.

    Args:
        source: The file or variable that holds the bad value.
        field: Dotted name of the field, or ``""`` for the whole file.
        message: What is wrong and what to do.
    """

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")


class DetectionError(UsageError):
    """The project holds no trainable scikit-learn or Keras code."""


class DataError(MlopsError):
    """The project's data cannot be used: a file, collection or column is wrong.

    Args:
        message: One line saying what is wrong and what to do.
        source: The file or collection.
        column: The column, when one is at fault.
    """

    def __init__(self, message: str, source: str | None = None, column: str | None = None) -> None:
        self.source = source
        self.column = column
        super().__init__(message)


class StoreError(MlopsError):
    """The run store cannot be reached or refused an operation."""


class RegistryError(MlopsError):
    """A model version or alias does not exist, or a registry operation is not allowed."""


class AliasMoved(RegistryError):
    """A compare-and-swap of an alias failed: it no longer points where the caller saw it (another run moved it).

    Args:
        project: The project.
        alias: The alias (``production``).
        expected: The version the caller saw (``None``: no version).
        actual: The version it points at now.
    """

    def __init__(self, project: str, alias: str, expected: int | None, actual: int | None) -> None:
        self.project, self.alias, self.expected, self.actual = project, alias, expected, actual
        seen = f"v{expected}" if expected is not None else "no version"
        now = f"v{actual}" if actual is not None else "no version"
        super().__init__(f"{alias} of {project} points at {now}, not at {seen} any more: another run moved it")


class PushRefused(MlopsError):
    """A blessed model was not pushed: ``production`` moved after its gate (exit code 1, nothing changed)."""


class BackendError(MlopsError):
    """A backend (Docker engine, virtualenv) cannot run trials or serving units.

    Args:
        message: One line naming the backend and what failed.
        where: The engine, host or environment involved.
    """

    def __init__(self, message: str, where: str = "") -> None:
        self.where = where
        super().__init__(message)


class BuildError(BackendError):
    """Building an image or a virtualenv failed.

    Args:
        message: One line naming what was built and why it failed.
        log: The end of the build log (shown under the message).
        where: The engine or cache folder.
    """

    def __init__(self, message: str, log: str = "", where: str = "") -> None:
        self.log = log
        super().__init__(message + (f"\n{log}" if log else ""), where)


class DeployError(MlopsError):
    """A model version could not be served; whatever served before keeps serving."""


class TrialFailed(MlopsError):
    """A trial did not produce a metric.

    Args:
        reason: One line saying what happened.
        exit_code_of_trial: The trial process's exit code, if it ran.
        stderr_tail: The last lines the trial wrote to stderr.
        command: The command that ran the trial.
    """

    def __init__(
        self,
        reason: str,
        exit_code_of_trial: int | None = None,
        stderr_tail: str = "",
        command: str = "",
    ) -> None:
        self.reason = reason
        self.exit_code_of_trial = exit_code_of_trial
        self.stderr_tail = stderr_tail
        self.command = command
        super().__init__(reason)


class Aborted(KeyboardInterrupt):
    """The command was stopped by a signal: SIGTERM (a Jenkins abort, ``docker stop``) or SIGINT (Ctrl-C).

    Like ``KeyboardInterrupt`` (which SIGINT raises without our handler) and unlike ``MlopsError``, no
    ``except Exception`` swallows it. The CLI prints ``aborted by SIGTERM: <detail>`` and exits 128 + the signal.

    Args:
        signum: The signal.
        detail: What was kept, said after the signal's name.
    """

    def __init__(self, signum: int, detail: str = "") -> None:
        self.signum = signum
        self.detail = detail
        super().__init__(self.signal_name)

    @classmethod
    def of(cls, interrupt: KeyboardInterrupt) -> Aborted:
        """The interrupt as an ``Aborted`` (a plain ``KeyboardInterrupt`` is SIGINT)."""
        return interrupt if isinstance(interrupt, Aborted) else cls(signal.SIGINT)

    @property
    def signal_name(self) -> str:
        """``SIGTERM``, ``SIGINT``..."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process ended by the signal: 143 for SIGTERM, 130 for SIGINT."""
        return 128 + self.signum

    def line(self) -> str:
        """``aborted by SIGTERM: run ... is recorded as aborted; its 2 trial(s) are kept``."""
        return f"aborted by {self.signal_name}" + (f": {self.detail}" if self.detail else "")


#: A write failed for want of space: the disk (or the user's quota, or a file size limit) is full.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: A write was refused by the file system or its permissions.
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def disk_fault(error: BaseException) -> str:
    """One line for a write that the disk refused (full, read-only, not permitted), naming the path and what to
    do; ``""`` for any other error."""
    if not isinstance(error, OSError) or error.errno not in (*DISK_FULL, *NOT_WRITABLE):
        return ""
    path = error.filename
    if error.errno in DISK_FULL:
        what = f"cannot write {path}" if path else "a write failed"
        return (f"disk full: {what} ({error.strerror}); free space on that disk, or set MLOPS_HOME to a folder on "
                "another one")
    if not path:  # refused, but not a file: not a fault of the disk
        return ""
    if error.errno == errno.EROFS:
        return f"cannot write {path}: read-only file system; set MLOPS_HOME to a writable folder"
    return f"{path}: {error.strerror}; this user needs access to it (and MLOPS_HOME must be a folder it can write)"
