"""The contexts and calls the certification makes, and the keyword rules it holds a policy to.

Keywords come from the policy when it exposes them (``policy.importance.rules``,
as :class:`~panicquota.AdaptivePanicQuota` does), else from the default rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import count
from typing import Any, Final

from panicquota._shared.calls import Call
from panicquota.stakes import CONTEXT_FIELDS, DEFAULT_RULES, Stakes

__all__ = [
    "DEFAULT_KEYWORDS",
    "NORMAL_TTLS",
    "KeywordRules",
    "exposed_rules",
    "first_keywords",
    "fresh_calls",
    "keyword_matches",
    "keywords_of",
    "probe_calls",
    "sample_contexts",
    "variant_contexts",
]

#: normal_ttl values the suite calls with: the usual 60, values below the
#: tier TTLs (a panic TTL must be capped) and a large one.
NORMAL_TTLS: Final = (60, 10, 25, 300)
#: A context that names no keyword of the default rules.
NO_KEYWORD: Final = "Friendly match"
#: The default keywords, by stakes value, highest stakes first.
DEFAULT_KEYWORDS: Final[Mapping[str, tuple[str, ...]]] = {
    stakes.value: tuple(words) for stakes, words in DEFAULT_RULES.items()
}
_HIGHEST_FIRST: Final = (Stakes.HIGH.value, Stakes.MEDIUM.value, Stakes.LOW.value)


def keyword_matches(keyword: str, text: str) -> bool:
    """Return whether *keyword* occurs in *text* as the spec says.

    Case-insensitive, whole words (no word character may touch either end),
    any run of white space matching any other.
    """
    words = keyword.split()
    pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)"
    return re.search(pattern, text, re.IGNORECASE) is not None


@dataclass(frozen=True)
class KeywordRules:
    """Keywords per stakes value, and where the suite learnt them (for messages)."""

    keywords: Mapping[str, tuple[str, ...]]
    source: str

    def stakes_of(self, context: Any) -> str:
        """Return the stakes the spec gives *context* under these rules.

        A mapping is read by its ``league``, ``competition``, ``tournament`` and
        ``event`` values, each on its own; the highest stakes matched wins;
        no match (or ``None``) is low.
        """
        if isinstance(context, Mapping):
            texts = [value for key in CONTEXT_FIELDS if isinstance(value := context.get(key), str)]
        else:
            texts = [context] if isinstance(context, str) else []
        for stakes in _HIGHEST_FIRST[:2]:  # low keywords cannot raise the stakes
            words = self.keywords.get(stakes, ())
            if any(keyword_matches(word, text) for word in words for text in texts):
                return stakes
        return Stakes.LOW.value


def exposed_rules(policy: Any) -> KeywordRules | None:
    """Return the keyword rules *policy* exposes as ``importance.rules``, or ``None``."""
    rules = getattr(getattr(policy, "importance", None), "rules", None)
    if not isinstance(rules, Mapping):
        return None
    try:
        keywords = {
            Stakes.parse(stakes).value: tuple(
                word for word in words if isinstance(word, str) and word.split()
            )
            for stakes, words in rules.items()
        }
    except (TypeError, ValueError):  # not rules this suite can read: treat them as hidden
        return None
    ordered = {stakes: keywords.get(stakes, ()) for stakes in _HIGHEST_FIRST}
    return KeywordRules(ordered, "the keyword rules the policy exposes as importance.rules")


def keywords_of(policy: Any) -> Mapping[str, tuple[str, ...]]:
    """Return the keywords per stakes value: the policy's own if it exposes them."""
    rules = exposed_rules(policy)
    return rules.keywords if rules is not None else DEFAULT_KEYWORDS


def first_keywords(policy: Any, per_level: int) -> list[str]:
    """Return the first *per_level* keywords of each stakes level (see :func:`keywords_of`)."""
    return [word for words in keywords_of(policy).values() for word in words[:per_level]]


def sample_contexts(policy: Any) -> list[Any]:
    """Return contexts covering every stakes level, in each accepted form."""
    contexts: list[Any] = [None, "", NO_KEYWORD]
    for word in first_keywords(policy, 2):
        contexts += [{"league": word}, f"{word} final", {"event": word.upper()}]
    return contexts


def variant_contexts(policy: Any) -> list[Any]:
    """Return the harder contexts: mixed stakes, near misses, padded and nested values.

    Mixed contexts show a priority that depends on iteration order; padded
    and nested ones show a policy that tidies or marks the caller's mapping.
    """
    firsts = first_keywords(policy, 1)
    contexts: list[Any] = []
    for index, word in enumerate(firsts):
        for other in [*firsts[index + 1 :], NO_KEYWORD]:
            contexts += [f"{word} v {other}", f"{other} / {word}", {"league": other, "event": word}]
        contexts += [
            f"{word}0",
            f"x{word}x",
            f"  {word}\t",
            {"league": f" {word}  ", "competition": "  Cup  "},
            {"event": word, "extra": {"tags": ["live", word], "ids": [1, 2]}},
        ]
    return contexts


def probe_calls(policy: Any) -> list[Call]:
    """Return the calls the determinism, purity and statelessness criteria make."""
    durations = (None, 0, 0.5, 14.99, 35.123456789, 95.0, 200.0, 400.0, 10_000.0)
    calls: list[Call] = []
    for context in [*sample_contexts(policy), *variant_contexts(policy)]:
        for duration in durations:
            normal_ttl = NORMAL_TTLS[len(calls) % len(NORMAL_TTLS)]
            calls.append(((normal_ttl, duration, context), {}))
    return calls


def fresh_calls(policy: Any, normal_ttls: Iterable[float] = (*NORMAL_TTLS, 45.5)) -> Iterator[Call]:
    """Yield calls without end, no duration and no context ever repeated.

    A cache keyed on the arguments keeps missing, so its cost and its growth
    show. Contexts rotate through a club name, a mapping, a keyword with a
    round number, a long string, and a mapping mixing a keyword with a match.
    """
    words = first_keywords(policy, 2) or [NO_KEYWORD]
    ttls = tuple(normal_ttls)
    padding = "between two clubs of the regional league " * 3
    for i in count():
        # Distinct for every i: the first term repeats every 1000 calls, the second never.
        duration = (i % 1000) * 0.37 + i * 1e-7
        word = words[i % len(words)]
        form = i % 8
        if form < 2:
            context: Any = f"Club {i}" if form else {"league": f"Club {i}"}
        elif form < 4:
            context = f"{word} round {i}" if form == 2 else {"league": word, "event": f"Match {i}"}
        elif form == 4:
            context = f"Friendly match {padding}{i}"  # long: a slow keyword scan shows
        else:
            context = (f"{word} v Club {i}", {"competition": f"Cup {i}"}, f"Match {i}")[form - 5]
        yield ((ttls[i % len(ttls)], duration, context), {})
