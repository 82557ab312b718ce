"""How much an event matters: keyword classification of a request context.

The context of a request (``{"league": "Ligue 1"}``, ``"UEFA Champions League
Final"``, ``None``) is mapped to a :class:`Stakes` level by keyword rules:
case-insensitive, whole words, any run of white space matching any other, and
the highest stakes winning when keywords of several levels match.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, TypeVar

from panicquota._memo import BoundedMemo
from panicquota.errors import ConfigError, ContextKeysWarning, InvalidTypeError

__all__ = [
    "CONTEXT_FIELDS",
    "DEFAULT_RULES",
    "Context",
    "ContextKey",
    "MatchImportance",
    "Stakes",
    "context_key",
]


class Stakes(StrEnum):
    """How much an event matters, highest first."""

    HIGH = "high_stakes"
    MEDIUM = "medium_stakes"
    LOW = "low_stakes"

    @classmethod
    def parse(cls, value: object) -> Stakes:
        """Return the stakes named by *value* (``Stakes.HIGH``, ``"high_stakes"`` or ``"high"``).

        Raises:
            ConfigError: *value* names no stakes level.
        """
        if isinstance(value, Stakes):
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            for member in cls:
                if text in (member.value, member.name.lower()):
                    return member
        accepted = ", ".join(repr(m.value) for m in cls)
        raise ConfigError(f"unknown stakes {value!r}; use one of {accepted}")


T = TypeVar("T")

#: Stakes from highest to lowest: the first level whose keywords match wins.
_PRIORITY: Final = (Stakes.HIGH, Stakes.MEDIUM, Stakes.LOW)

_LOW: Final = Stakes.LOW
#: The mapping keys a mapping context is classified by, in this order (the default).
CONTEXT_FIELDS: Final = ("league", "competition", "tournament", "event")
#: How many distinct key sets of unread mappings a classifier remembers having warned about.
_WARNED_MAX: Final = 1024

DEFAULT_RULES: Final[Mapping[Stakes, tuple[str, ...]]] = MappingProxyType(
    {
        Stakes.HIGH: ("Champions League", "UCL", "World Cup", "Euro"),
        Stakes.MEDIUM: (
            "Ligue 1",
            "Premier League",
            "La Liga",
            "Serie A",
            "Bundesliga",
            "Europa League",
        ),
        Stakes.LOW: (),
    }
)

#: What a policy accepts as a request context.
Context = Mapping[str, Any] | str | None
#: The hashable form of a context that classification is memoised on.
ContextKey = tuple[object, ...] | str | None


def _keyword_pattern(keyword: str) -> str:
    # Whole words: no word character may touch either end. Inner white space
    # matches any run of white space so "Ligue  1" and "Ligue\t1" match too.
    words = keyword.split()
    return r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)"


def _normalise_rules(rules: Mapping[Any, Iterable[str]]) -> dict[Stakes, tuple[str, ...]]:
    if not isinstance(rules, Mapping):
        raise InvalidTypeError(
            f"rules must be a mapping of stakes to keywords, got {type(rules).__name__} {rules!r}"
        )
    # Naming a level replaces that level's keywords only: the others keep their
    # defaults (as a [keywords] table of a TOML configuration does).
    normalised: dict[Stakes, tuple[str, ...]] = dict(DEFAULT_RULES)
    for raw_stakes, keywords in rules.items():
        stakes = Stakes.parse(raw_stakes)
        if isinstance(keywords, str) or not isinstance(keywords, Iterable):
            raise InvalidTypeError(
                f"keywords for {stakes.value} must be a list of strings, got {keywords!r}"
            )
        cleaned: list[str] = []
        for keyword in keywords:
            if not isinstance(keyword, str):
                raise InvalidTypeError(
                    f"keywords for {stakes.value} must be strings, got {keyword!r}"
                )
            if not keyword.split():
                raise ConfigError(f"keywords for {stakes.value} must not be blank, got {keyword!r}")
            cleaned.append(" ".join(keyword.split()))
        normalised[stakes] = tuple(cleaned)
    return normalised


def _identity(stakes: Stakes) -> Stakes:
    return stakes


def _normalise_keys(keys: object) -> tuple[str, ...]:
    if (
        isinstance(keys, str)
        or not isinstance(keys, Iterable)
        or not (keys := tuple(keys))
        or not all(isinstance(k, str) and k for k in keys)
        or len(set(keys)) != len(keys)
    ):
        raise ConfigError(
            f"context keys must be a non-empty list of distinct, non-empty strings, got {keys!r}"
        )
    return keys


def _quoted(keys: Iterable[str]) -> str:
    names = [repr(k) for k in keys]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def context_key(context: Context, keys: tuple[str, ...] = CONTEXT_FIELDS) -> ContextKey:
    """Return the hashable key a context is classified by.

    A mapping gives the tuple of its values for *keys* (by default ``league``,
    ``competition``, ``tournament`` and ``event``); a string gives itself (a
    ``str`` subclass its plain text); ``None`` gives ``None``.

    Raises:
        InvalidTypeError: *context* is not a mapping, a string or ``None``.
    """
    if type(context) is str or context is None:
        return context
    # type() before isinstance(): an ABC check costs more than the whole look-up.
    if type(context) is dict or isinstance(context, Mapping):
        get = context.get
        if keys is CONTEXT_FIELDS:  # unrolled: half the cost of tuple(map(...)) here
            return (get("league"), get("competition"), get("tournament"), get("event"))
        return tuple(map(get, keys))
    if isinstance(context, str):
        return str(context)
    raise InvalidTypeError(
        f"context must be a mapping (read by its {_quoted(keys)} values), a string or None, "
        f"got {type(context).__name__} {context!r}"
    )


class MatchImportance:
    """Classify request contexts into :class:`Stakes` by keyword rules.

    Instances are immutable. Classifications are memoised in a bounded LRU
    cache (``cache_size`` distinct contexts) so that the hot path pays a
    dictionary look-up, not a regular-expression scan, while memory stays flat
    however many distinct contexts are seen. The cache is not part of the
    object's value: it is left out of equality, hashing and pickling.

    Args:
        rules: keywords per stakes level (keys: :class:`Stakes`, ``"high_stakes"``
            or ``"high"``); a level named replaces that level's keywords, levels
            left out keep :data:`DEFAULT_RULES` (give ``[]`` to empty one).
        cache_size: how many distinct contexts to memoise (``0`` disables it).
        keys: the mapping keys a mapping context is read by, in this order
            (default :data:`CONTEXT_FIELDS`). A non-empty mapping with none of
            them is low stakes and warns once per distinct set of its keys
            (:class:`~panicquota.errors.ContextKeysWarning`).
    """

    __slots__ = ("_cache_size", "_keys", "_memo", "_patterns", "_rules", "_warned")

    def __init__(
        self,
        rules: Mapping[Any, Iterable[str]] | None = None,
        cache_size: int = 8192,
        *,
        keys: Iterable[str] = CONTEXT_FIELDS,
    ) -> None:
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigError(f"cache_size must be an int >= 0, got {cache_size!r}")
        self._keys = CONTEXT_FIELDS if keys is CONTEXT_FIELDS else _normalise_keys(keys)
        if self._keys == CONTEXT_FIELDS:
            # The same object, so that context_key() takes its unrolled path.
            self._keys = CONTEXT_FIELDS
        self._warned: set[frozenset[object]] = set()
        self._rules: Mapping[Stakes, tuple[str, ...]] = MappingProxyType(
            _normalise_rules(DEFAULT_RULES if rules is None else rules)
        )
        self._patterns = tuple(
            (stakes, re.compile("|".join(map(_keyword_pattern, keywords)), re.IGNORECASE))
            for stakes in _PRIORITY
            if (keywords := self._rules[stakes])
        )
        self._cache_size = cache_size
        self._memo = self.memo(_identity)

    @property
    def rules(self) -> Mapping[Stakes, tuple[str, ...]]:
        """The keywords of each stakes level (read-only)."""
        return self._rules

    @property
    def keys(self) -> tuple[str, ...]:
        """The mapping keys a mapping context is read by, in order."""
        return self._keys

    def classify(self, context: Context) -> Stakes:
        """Return the stakes of *context*.

        Args:
            context: a mapping read by its :attr:`keys` values (``league``,
                ``competition``, ``tournament`` and ``event`` by default), a
                plain string, or ``None``.

        Raises:
            InvalidTypeError: *context* is none of those, or one of the read
                values is neither a string nor ``None``.
        """
        key = context_key(context, self._keys)
        try:
            stakes = self._memo[key]
        except TypeError:  # an unhashable value (a list, a dict) under a read key
            stakes = self._classify_uncached(key)
        if stakes is _LOW and type(key) is tuple and not any(v is not None for v in key):
            self.unread(context)  # type: ignore[arg-type]  # a mapping: its key is a tuple
        return stakes

    def unread(self, context: Mapping[Any, Any]) -> None:
        """Warn that the mapping *context* has none of :attr:`keys`, once per set of its keys.

        An empty mapping is not warned about: it carries no classification.
        """
        if not context or any(key in context for key in self._keys):
            return
        seen = frozenset(context)
        if seen in self._warned:
            return
        if len(self._warned) >= _WARNED_MAX:
            self._warned.clear()
        self._warned.add(seen)
        found = ", ".join(sorted(map(repr, context)))
        warnings.warn(
            f"context mapping has none of the keys read ({_quoted(self._keys)}), so it is "
            f"low stakes; its keys: {found} (set the keys read with "
            "MatchImportance(keys=...) or context_keys in the configuration)",
            ContextKeysWarning,
            stacklevel=3,
        )

    def memo(self, outcome: Callable[[Stakes], T]) -> BoundedMemo[ContextKey, T]:
        """Return a memo mapping a :func:`context_key` to ``outcome(stakes)``.

        A caller that derives something from the stakes (a policy: its tier
        table) then pays one dict look-up per call: ``memo[context_key(c)]``.
        """
        return BoundedMemo(lambda key: outcome(self._classify_uncached(key)), self._cache_size)

    def _classify_uncached(self, key: ContextKey) -> Stakes:
        if key is None:
            return Stakes.LOW
        if isinstance(key, str):
            text = key
        else:
            for name, value in zip(self._keys, key, strict=True):
                if value is not None and not isinstance(value, str):
                    raise InvalidTypeError(
                        f"context[{name!r}] must be a string or None, "
                        f"got {type(value).__name__} {value!r}"
                    )
            # " | " is not white space, so no keyword can match across two fields.
            text = " | ".join(value for value in key if isinstance(value, str))
        for stakes, pattern in self._patterns:
            if pattern.search(text):
                return stakes
        return Stakes.LOW

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MatchImportance):
            return NotImplemented
        return dict(self._rules) == dict(other._rules) and self._keys == other._keys

    def __hash__(self) -> int:
        return hash((tuple(self._rules.items()), self._keys))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), dict(self._rules), self._cache_size, self._keys))

    def __repr__(self) -> str:
        rules = {stakes.value: list(words) for stakes, words in self._rules.items()}
        if self._keys == CONTEXT_FIELDS:
            return f"MatchImportance(rules={rules!r})"
        return f"MatchImportance(rules={rules!r}, keys={self._keys!r})"


def _rebuild(
    cls: type[MatchImportance],
    rules: dict[Stakes, tuple[str, ...]],
    cache_size: int,
    keys: tuple[str, ...],
) -> MatchImportance:
    return cls(rules, cache_size, keys=keys)
