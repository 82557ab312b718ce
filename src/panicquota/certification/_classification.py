"""The stakes part of the contract: keywords, context forms, near misses, priority.

The expected stakes come from the keyword rules the policy exposes. A policy
that hides its rules is held to what its own answers for the default keywords
imply: each default keyword it ranks above low becomes one of its keywords,
and every other form of that keyword (a mapping, upper case, doubled spaces,
inside a longer name, mixed with another) must agree with that ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from panicquota.certification._contexts import (
    DEFAULT_KEYWORDS,
    NO_KEYWORD,
    KeywordRules,
    exposed_rules,
    first_keywords,
    keywords_of,
)
from panicquota.certification._decide import Violation, decide
from panicquota.stakes import CONTEXT_FIELDS, Stakes

__all__ = ["check_classification"]

#: How many keywords per stakes level are checked on their own, and in every form.
MAX_KEYWORDS: Final = 200
MAX_FORMS: Final = 16

_MAPPING = (
    "a mapping context is read by its 'league', 'competition', 'tournament' and 'event' values"
)
_CASE = "keywords match case-insensitively"
_SPACE = "runs of white space count as one space"
_INSIDE = "a keyword matches inside a longer name"
_WHOLE = "keywords match whole words only"
_PRIORITY = "the highest stakes matched wins"


def _inferred(stakes_of: Callable[[Any], str]) -> KeywordRules:
    found: dict[str, list[str]] = {}
    for words in DEFAULT_KEYWORDS.values():
        for word in words:
            found.setdefault(stakes_of(word), []).append(word)
    found.pop(Stakes.LOW.value, None)
    return KeywordRules(
        {stakes: tuple(words) for stakes, words in found.items()},
        "its own answers for the default keywords, as it exposes no importance.rules",
    )


def _forms(word: str) -> Iterator[tuple[Any, str]]:
    for field in CONTEXT_FIELDS:
        yield {field: word}, _MAPPING
    upper = word.upper()
    # Only where upper case round-trips: "ß".upper() is "SS", which no rule promises.
    if upper != word and len(upper) == len(word) and upper.lower() == word.lower():
        yield upper, _CASE
    if " " in word:
        yield word.replace(" ", "  "), _SPACE
    yield f"x {word} y", _INSIDE
    yield f"{word}0", _WHOLE
    yield f"x{word}x", _WHOLE


def _mixes(samples: list[str]) -> Iterator[Any]:
    for first in samples:
        for second in samples:
            if first != second:
                yield f"{first} v {second}"
                yield {"league": first, "event": second}
                yield {"competition": first, "tournament": second}


def check_classification(policy: Any) -> int:
    """Check the stakes the policy reports for keyword contexts; return the decisions made.

    Raises:
        Violation: a context is classified unlike the rules say.
    """
    made = 0

    def stakes_of(context: Any) -> str:
        nonlocal made
        made += 1
        return str(decide(policy, 60, 1.0, context)[2]["stakes"])

    def expect(context: Any, reason: str) -> None:
        got, expected = stakes_of(context), rules.stakes_of(context)
        if got != expected:
            raise Violation(
                f"the context {context!r} is classified {got!r}, expected {expected!r}: "
                f"{reason} (per {rules.source})"
            )

    shown = exposed_rules(policy)
    if shown is not None:
        rules = shown
        for stakes, keywords in shown.keywords.items():
            for word in keywords[:MAX_KEYWORDS]:
                # A keyword of a higher level inside this one outranks it.
                own = rules.stakes_of(word) == stakes
                expect(word, f"{word!r} is a keyword of {stakes}" if own else _PRIORITY)
    else:
        rules = _inferred(stakes_of)
    for keywords in keywords_of(policy).values():
        for word in keywords[:MAX_FORMS]:
            for context, reason in _forms(word):
                expect(context, reason)
    for context in _mixes([*first_keywords(policy, 1), NO_KEYWORD]):
        expect(context, _PRIORITY)
    return made
