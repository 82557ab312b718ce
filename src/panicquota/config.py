"""Policy configuration from TOML: a standalone file or ``[tool.panicquota]``.

Format (every table optional; stakes are ``high``/``medium``/``low`` or their
full names ``high_stakes``...)::

    [tool.panicquota.thresholds]        # minutes at which tiers 2, 3, 4 start
    medium = [20, 60, 120]              # or { tier2 = 20, tier3 = 60, tier4 = 120 }

    [tool.panicquota.ttls]              # seconds, per tier
    tier2 = 10

    [tool.panicquota.keywords]          # replaces the default keywords of a level
    high = ["Champions League", "UCL", "Cup Final"]

In a standalone file the same tables stand at the top level (or under
``[tool.panicquota]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from typing import Any

from panicquota._toml import read_toml
from panicquota.errors import ConfigError, PanicquotaError
from panicquota.stakes import DEFAULT_RULES, Stakes
from panicquota.tiers import DEFAULT_TTLS

__all__ = ["load_policy_config", "policy_config_from_mapping"]

_SECTIONS = ("thresholds", "ttls", "keywords")


def load_policy_config(path: str | PathLike[str]) -> dict[str, Any]:
    """Read *path* and return the keyword arguments of :class:`AdaptivePanicQuota`.

    Raises:
        ConfigError: the file is missing, not TOML, or has an invalid key; the
            message names the file and the key.
    """
    file, document = read_toml(path, ConfigError, "configuration")
    tool = document.get("tool")
    if isinstance(tool, Mapping) and "panicquota" in tool:
        section, where = tool["panicquota"], "tool.panicquota"
    elif file.name == "pyproject.toml":
        raise ConfigError(f"{file}: no [tool.panicquota] table")
    else:
        section, where = document, ""
    return policy_config_from_mapping(section, source=f"{file}", prefix=where)


def policy_config_from_mapping(
    section: Mapping[str, Any], *, source: str = "<config>", prefix: str = ""
) -> dict[str, Any]:
    """Validate a parsed configuration table and return the policy's keyword arguments.

    Raises:
        ConfigError: naming *source* and the dotted key that is wrong.
    """

    def key(*parts: str) -> str:
        return ".".join(p for p in (prefix, *parts) if p)

    if not isinstance(section, Mapping):
        raise ConfigError(f"{source}: {key() or 'the document'} must be a table")
    unknown = sorted(set(section) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {key(unknown[0])!r}; accepted: "
            + ", ".join(repr(key(s)) for s in _SECTIONS)
        )
    kwargs: dict[str, Any] = {}
    try:
        if "thresholds" in section:
            kwargs["thresholds"] = _stakes_table(section["thresholds"], source, key("thresholds"))
        if "ttls" in section:
            ttls = section["ttls"]
            if not isinstance(ttls, Mapping):
                raise ConfigError(f"{key('ttls')} must be a table of tier1..tier4")
            kwargs["ttls"] = {**DEFAULT_TTLS.as_dict(), **ttls}
        if "keywords" in section:
            rules = dict(DEFAULT_RULES)
            rules.update(_stakes_table(section["keywords"], source, key("keywords")))
            kwargs["rules"] = rules
        from panicquota.policy import AdaptivePanicQuota

        AdaptivePanicQuota(**kwargs)  # validate now, where the file name is known
    except ConfigError as error:
        if str(error).startswith(f"{source}:"):
            raise
        raise ConfigError(f"{source}: {error}") from None
    except PanicquotaError as error:
        raise ConfigError(f"{source}: {error}") from None
    return kwargs


def _stakes_table(value: object, source: str, where: str) -> dict[Stakes, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: {where} must be a table keyed by stakes")
    table: dict[Stakes, Any] = {}
    for name, entry in value.items():
        try:
            stakes = Stakes.parse(name)
        except ConfigError as error:
            raise ConfigError(f"{source}: {where}.{name}: {error}") from None
        table[stakes] = entry
    return table
