"""The exceptions panicquota raises.

Every error derives from :class:`PanicquotaError` and also from the built-in
exception a caller would naturally catch (``ValueError`` or ``TypeError``), so
``except ValueError`` keeps working for code that does not know this library.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ContextKeysWarning",
    "InvalidArgumentError",
    "InvalidTypeError",
    "MissingExtraError",
    "PanicquotaError",
    "PanicquotaWarning",
]


class PanicquotaError(Exception):
    """Base class of every error raised by panicquota."""


class InvalidArgumentError(PanicquotaError, ValueError):
    """An argument has the right type but a value that is not accepted."""


class InvalidTypeError(PanicquotaError, TypeError):
    """An argument has a type that is not accepted."""


class ConfigError(PanicquotaError, ValueError):
    """A configuration (thresholds, TTLs, keyword rules, TOML file) is invalid.

    Args:
        reason: what is wrong and what is accepted.
        source: the file (or ``<config>``) the configuration came from, if known.
        key: the full dotted key path of the bad entry (``"ttls.tier2"``), if known.

    ``str(error)`` reads ``"<source>: key '<key>': <reason>"``, leaving out
    what is not known.
    """

    def __init__(self, reason: str, *, source: str | None = None, key: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.source = source
        self.key = key

    def located(self, *, source: str | None = None, key: str | None = None) -> ConfigError:
        """Return a copy of this error with *source* and *key* filled in where still unknown."""
        return type(self)(
            self.reason,
            source=self.source if self.source is not None else source,
            key=self.key if self.key is not None else key,
        )

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        if self.key:
            where += f"key {self.key!r}: "
        return where + self.reason

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_config_error, (type(self), self.reason, self.source, self.key))


def _rebuild_config_error(
    cls: type[ConfigError], reason: str, source: str | None, key: str | None
) -> ConfigError:
    return cls(reason, source=source, key=key)


class PanicquotaWarning(UserWarning):
    """Base class of every warning panicquota issues."""


class ContextKeysWarning(PanicquotaWarning):
    """A mapping context has none of the keys the classifier reads, so it is low stakes."""


class MissingExtraError(PanicquotaError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
