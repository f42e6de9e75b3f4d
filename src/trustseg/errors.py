"""Errors that trustseg raises for a user's mistake, and how failures are told to the user.

A :class:`TrustsegError` carries a message written for the researcher: it names
the file, config key, column or rows at fault and says how to fix it.  The
command-line entry points and workflow scripts print it without a traceback and
exit with status 1.  Programming errors keep their ordinary exceptions.

Two kinds of failure are not trustseg's doing and not bugs either, so they are
told in one plain line too: an operating-system error (a full disk, a
permission denied, a file that vanished; :func:`os_error_message`) and an
interrupt (Ctrl-C; :func:`quiet_interrupts`).  This module imports nothing
heavy, so a workflow script can install the interrupt handler before it loads
numpy and pandas.
"""

from __future__ import annotations

import atexit
import errno
import os
import signal
import sys
from collections.abc import Iterable

#: the one line an interrupted job or run ends with
INTERRUPTED = "interrupted; nothing half-written is kept. Run snakemake again to finish."


class TrustsegError(Exception):
    """A problem with the user's input (config, data file or arguments)."""


class ConfigError(TrustsegError):
    """The configuration is invalid: an unknown key, a wrong type, a bad value."""


class DataError(TrustsegError, ValueError):
    """The survey data cannot be used as configured."""


def is_os_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the operating system refusing (it carries an errno), not a bug."""
    return isinstance(exc, OSError) and exc.errno is not None


def os_error_message(exc: OSError, paths: Iterable[str] = ()) -> str:
    """One plain sentence for an operating-system error, naming the path and the fix.

    Parameters
    ----------
    exc : OSError
        The error, with its ``errno``.
    paths : iterable of str
        Files that were being written when ``exc`` carries no file name (a
        write to an open file on a full disk names none), e.g. a job's outputs.
    """
    names = [exc.filename, exc.filename2] if exc.filename is not None else list(paths)
    shown = [f"'{os.fsdecode(p)}'" for p in names if p is not None]
    where = " and ".join(shown[:3]) + (f" (and {len(shown) - 3} more)" if len(shown) > 3 else "")
    where = where or "a file"
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        what = "the disk is full" if code == errno.ENOSPC else "the disk quota is exceeded"
        return (
            f"cannot write {where}: {what} ({exc.strerror}). Free some space (or run in a folder on a disk "
            "with room) and run again; nothing half-written is kept."
        )
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied for {where} ({exc.strerror}). Check that you may read and write it "
            "(ls -l shows the owner and permissions), e.g. that results/ was not created by another user, "
            "and run again."
        )
    if code == errno.EROFS:
        return f"cannot write {where}: it is on a read-only file system. Run from a folder you can write to."
    if code == errno.ENOENT:
        return (
            f"{where} was not found ({exc.strerror}): it was moved or deleted, perhaps while the run was going. "
            "Check the path, leave results/ alone while a run is going, and run again."
        )
    if code == errno.EISDIR:
        return f"{where} is a folder, not a file. Check the path."
    if code in (errno.EMFILE, errno.ENFILE):
        return f"cannot open {where}: too many files are open ({exc.strerror}). Close other programs and run again."
    return f"the operating system refused access to {where}: {exc.strerror or exc}. Check the path and run again."


def _on_interrupt(signum, frame):
    # One signal is enough: a second Ctrl-C must not cut short the clean-up
    # (temp files removed, the log line written) that the first one started.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # SystemExit unwinds the stack like any exception (atomic writers delete
    # their temp files), but Python prints no traceback for it.
    raise SystemExit(128 + int(signum))


def quiet_interrupts() -> None:
    """Turn Ctrl-C (SIGINT) and SIGTERM into a quiet exit with status 130 or 143.

    Snakemake's jobs get SIGINT when the user presses Ctrl-C; without this
    every job prints a ``KeyboardInterrupt`` traceback, also while it is still
    importing numpy.  :func:`trustseg.stages.common.run_stage` then writes one
    line, ``interrupted``, to the job's log.  Only the main thread can install
    handlers; elsewhere this does nothing.
    """
    try:
        signal.signal(signal.SIGINT, _on_interrupt)
        signal.signal(signal.SIGTERM, _on_interrupt)
    except ValueError:  # not the main thread
        pass


_received: list[int] = []


def remember_interrupts() -> None:
    """Note a SIGINT or SIGTERM to this process, then let the handler in place (Snakemake's) act on it.

    The workflow calls it when it starts running jobs (``onstart`` in
    ``workflow/rules/common.smk``) and :func:`exit_if_interrupted` when they
    failed (``onerror``), so that Snakemake, which ends every failed run with
    status 1, ends an interrupted one as a shell program does: 130 for
    Ctrl-C, 143 for SIGTERM.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            if not _received:
                _received.append(int(signum))
            if callable(previous):
                return previous(signum, frame)
            if previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return None

        try:
            signal.signal(sig, handler)
        except ValueError:  # not the main thread
            return


def exit_if_interrupted() -> None:
    """After an interrupt noted by :func:`remember_interrupts`: end the process, once everything else has
    finished (locks released, logs closed), with the one line and status 128 + the signal (130, 143)."""
    if not _received:
        return
    status = 128 + _received[0]

    def finish():
        try:
            sys.stdout.flush()
            sys.stderr.write(f"trustseg: {INTERRUPTED}\n")
            sys.stderr.flush()
        finally:
            os._exit(status)

    # atexit runs its handlers last in, first out: registered now, this one runs after Snakemake's own exit code
    # is set, and ends the process with the right one
    atexit.register(finish)
