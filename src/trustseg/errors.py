"""Errors that trustseg raises for a user's mistake.

A :class:`TrustsegError` carries a message written for the researcher: it names
the file, config key, column or rows at fault and says how to fix it.  The
command-line entry points and workflow scripts print it without a traceback and
exit with status 1.  Programming errors keep their ordinary exceptions.
"""

from __future__ import annotations


class TrustsegError(Exception):
    """A problem with the user's input (config, data file or arguments)."""


class ConfigError(TrustsegError):
    """The configuration is invalid: an unknown key, a wrong type, a bad value."""


class DataError(TrustsegError, ValueError):
    """The survey data cannot be used as configured."""
