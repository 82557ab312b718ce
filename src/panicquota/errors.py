"""The exceptions panicquota raises.

Every error derives from :class:`PanicquotaError` and also from the built-in
exception a caller would naturally catch (``ValueError`` or ``TypeError``), so
``except ValueError`` keeps working for code that does not know this library.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "MissingExtraError",
    "PanicquotaError",
]


class PanicquotaError(Exception):
    """Base class of every error raised by panicquota."""


class InvalidArgumentError(PanicquotaError, ValueError):
    """An argument has the right type but a value that is not accepted."""


class InvalidTypeError(PanicquotaError, TypeError):
    """An argument has a type that is not accepted."""


class ConfigError(PanicquotaError, ValueError):
    """A configuration (thresholds, TTLs, keyword rules, TOML file) is invalid."""


class MissingExtraError(PanicquotaError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
