"""Policy configuration from TOML: a standalone file or ``[tool.panicquota]``.

Format (every table optional; stakes are ``high``/``medium``/``low`` or their
full names ``high_stakes``...)::

    [tool.panicquota]
    context_keys = ["league", "competition"]   # mapping keys a context is read by

    [tool.panicquota.thresholds]        # minutes at which tiers 2, 3, 4 start
    medium = [20, 60, 120]              # or { tier2 = 20, tier3 = 60, tier4 = 120 }

    [tool.panicquota.ttls]              # seconds, per tier
    tier2 = 10

    [tool.panicquota.keywords]          # replaces the default keywords of that level only
    high = ["Champions League", "UCL", "Cup Final"]

In a standalone file the same tables stand at the top level (or under
``[tool.panicquota]``). Each entry is validated by the type it configures
(:class:`Thresholds`, :class:`TierTTLs`, :class:`MatchImportance`); an error is
a :class:`ConfigError` whose ``source`` is the file and ``key`` the full
dotted key path of the bad entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from typing import Any

from panicquota._toml import read_toml
from panicquota._validate import require_number
from panicquota.errors import ConfigError, PanicquotaError
from panicquota.stakes import MatchImportance, Stakes
from panicquota.tiers import DEFAULT_TTLS, Thresholds, TierTTLs

__all__ = ["load_policy_config", "policy_config_from_mapping"]

_SECTIONS = ("thresholds", "ttls", "keywords", "context_keys")
_TIERS = ("tier1", "tier2", "tier3", "tier4")


def load_policy_config(path: str | PathLike[str]) -> dict[str, Any]:
    """Read *path* and return the keyword arguments of :class:`AdaptivePanicQuota`.

    Raises:
        ConfigError: the file is missing, not UTF-8 or not TOML, or has an
            invalid key; ``source`` is the file and ``key`` the dotted key.
    """
    file, document = read_toml(path, ConfigError, "configuration")
    tool = document.get("tool")
    if isinstance(tool, Mapping) and "panicquota" in tool:
        section, where = tool["panicquota"], "tool.panicquota"
    elif file.name == "pyproject.toml":
        raise ConfigError("no [tool.panicquota] table", source=str(file))
    else:
        section, where = document, ""
    return policy_config_from_mapping(section, source=str(file), prefix=where)


def policy_config_from_mapping(
    section: Mapping[str, Any], *, source: str = "<config>", prefix: str = ""
) -> dict[str, Any]:
    """Validate a parsed configuration table and return the policy's keyword arguments.

    *prefix* is the dotted key of the table itself (``"tool.panicquota"``,
    ``"policy"``), so that errors name the full key path.

    Raises:
        ConfigError: with ``source`` set to *source* and ``key`` to the full
            dotted key of the entry that is wrong.
    """

    def key(*parts: str) -> str | None:
        return ".".join(p for p in (prefix, *parts) if p) or None

    if not isinstance(section, Mapping):
        raise ConfigError(f"must be a table, got {section!r}", source=source, key=key())
    for name in section:
        if name not in _SECTIONS:
            raise ConfigError(
                "unknown key; accepted: " + ", ".join(repr(key(s)) for s in _SECTIONS),
                source=source,
                key=key(name),
            )
    # The values are returned as written (validated, not converted): what the
    # policy is built from, and what a scenario hands on to its workers.
    kwargs: dict[str, Any] = {}
    if "thresholds" in section:
        thresholds: dict[Stakes, Any] = {}
        for stakes, dotted, entry in _stakes_table(
            section["thresholds"], source, f"{key('thresholds')}"
        ):
            _located(Thresholds.coerce, entry, source, dotted)
            thresholds[stakes] = entry
        kwargs["thresholds"] = thresholds
    if "ttls" in section:
        kwargs["ttls"] = _ttls(section["ttls"], source, f"{key('ttls')}")
    if "keywords" in section:
        # A level named replaces that level's keywords; MatchImportance keeps
        # the defaults of the others.
        rules: dict[Stakes, Any] = {}
        for stakes, dotted, entry in _stakes_table(
            section["keywords"], source, f"{key('keywords')}"
        ):
            _located(MatchImportance, {stakes: entry}, source, dotted)
            rules[stakes] = entry
        kwargs["rules"] = rules
    if "context_keys" in section:
        keys = section["context_keys"]
        _located(lambda k: MatchImportance(keys=k), keys, source, key("context_keys"))
        kwargs["context_keys"] = tuple(keys)
    return kwargs


def _located(build: Any, value: object, source: str, key: str | None) -> Any:
    """Return ``build(value)``; an error it raises names *source* and *key*."""
    try:
        return build(value)
    except ConfigError as error:
        raise error.located(source=source, key=key) from None
    except PanicquotaError as error:  # InvalidTypeError: a value of the wrong type
        raise ConfigError(str(error), source=source, key=key) from None


def _ttls(value: object, source: str, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"must be a table of tier1..tier4, got {value!r}", source=source, key=where
        )
    for name, entry in value.items():
        if name not in _TIERS:
            raise ConfigError(
                "unknown key; accepted: " + ", ".join(repr(f"{where}.{t}") for t in _TIERS),
                source=source,
                key=f"{where}.{name}",
            )
        _located(lambda v: require_number("a TTL", v), entry, source, f"{where}.{name}")
    # Each entry is valid on its own; together they must not fall from one tier to the next.
    ttls = {**DEFAULT_TTLS.as_dict(), **value}
    _located(TierTTLs.coerce, ttls, source, where)
    return ttls


def _stakes_table(value: object, source: str, where: str) -> list[tuple[Stakes, str, Any]]:
    """Return ``(stakes, key, entry)`` for each entry of a table keyed by stakes."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"must be a table keyed by stakes, got {value!r}", source=source, key=where
        )
    return [
        (_located(Stakes.parse, name, source, f"{where}.{name}"), f"{where}.{name}", entry)
        for name, entry in value.items()
    ]
