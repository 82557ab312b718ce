"""The behavioural criteria: contract, statelessness and bad input.

They only call ``calculate_ttl_strategy`` and read what it reports (its
thresholds in ``meta["thresholds"]``, its stakes in ``meta["stakes"]``), so
they certify any implementation, with any thresholds, TTLs or keywords.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from panicquota.certification._fresh import Call
from panicquota.certification._outcome import Outcome
from panicquota.certification._state import brief, difference, plain
from panicquota.stakes import DEFAULT_RULES, Stakes
from panicquota.tiers import MODE_BY_TIER, Thresholds

__all__ = [
    "NORMAL_TTLS",
    "check_bad_input",
    "check_contract",
    "check_stateless",
    "probe_calls",
    "sample_contexts",
]

#: normal_ttl values the suite calls with: the usual 60, values below the
#: tier TTLs (a panic TTL must be capped) and a large one.
NORMAL_TTLS = (60, 10, 25, 300)
#: How far below and above a threshold the boundary probes go, in minutes:
#: far less than the 0.1 the metadata rounds to, so rounding first shows.
EPSILON = 1e-4
_RANK = {Stakes.HIGH.value: 3, Stakes.MEDIUM.value: 2, Stakes.LOW.value: 1}
META_TYPES: Mapping[str, tuple[type, ...]] = {
    "tier": (int,),
    "mode": (str,),
    "ttl": (int, float),
    "stakes": (str,),
    "panic_duration_minutes": (int, float),
    "alert": (str, type(None)),
}


class _Violation(Exception):
    """One broken clause of the contract; its text is the report sentence."""


def keywords_of(policy: Any) -> dict[str, list[str]]:
    """Return a few keywords per stakes level: the policy's own rules if it shows them."""
    rules = getattr(getattr(policy, "importance", None), "rules", None)
    if not isinstance(rules, Mapping):
        rules = DEFAULT_RULES
    return {str(Stakes.parse(k).value): list(v)[:3] for k, v in rules.items()}


def sample_contexts(policy: Any) -> list[Any]:
    """Return contexts covering every stakes level, in each accepted form."""
    contexts: list[Any] = [None, "", "Friendly match"]
    for words in keywords_of(policy).values():
        for word in words[:2]:
            contexts += [{"league": word}, f"{word} final", {"event": word.upper()}]
    return contexts


def probe_calls(policy: Any) -> list[Call]:
    """Return the calls the determinism, purity, leak and latency criteria make."""
    durations = (None, 0, 0.5, 14.99, 35.123456789, 95.0, 200.0, 400.0, 10_000.0)
    calls: list[Call] = []
    for context in sample_contexts(policy):
        for duration in durations:
            normal_ttl = NORMAL_TTLS[len(calls) % len(NORMAL_TTLS)]
            calls.append(((normal_ttl, duration, context), {}))
    return calls


def _thresholds(meta: Mapping[str, Any], where: str) -> Thresholds:
    raw = meta.get("thresholds")
    try:
        return Thresholds.coerce(raw)
    except (TypeError, ValueError):
        raise _Violation(
            f"{where}: meta['thresholds'] is {raw!r}; it must be Thresholds, a (tier2, tier3, "
            "tier4) sequence or a mapping with those keys"
        ) from None


def _decide(policy: Any, normal_ttl: float, duration: float | None, context: Any) -> Any:
    where = f"calculate_ttl_strategy({normal_ttl!r}, {duration!r}, {context!r})"
    try:
        ttl, mode, meta = policy.calculate_ttl_strategy(normal_ttl, duration, context)
    except Exception as error:
        raise _Violation(f"{where} raised {type(error).__name__}: {error}") from None
    if not isinstance(meta, Mapping):
        raise _Violation(f"{where} returned metadata {meta!r}; it must be a mapping")
    missing = [key for key in (*META_TYPES, "thresholds") if key not in meta]
    if missing:
        raise _Violation(f"{where}: the metadata lacks the keys {missing!r}")
    for key, types in META_TYPES.items():
        value = meta[key]
        if not isinstance(value, types) or isinstance(value, bool):
            accepted = " or ".join(t.__name__ for t in types)
            raise _Violation(f"{where}: meta[{key!r}] is {value!r}; it must be {accepted}")
    if meta["stakes"] not in _RANK:
        raise _Violation(
            f"{where}: meta['stakes'] is {meta['stakes']!r}; it must be one of {sorted(_RANK)!r}"
        )
    tier = meta["tier"]
    if tier not in range(5) or mode != MODE_BY_TIER[tier] or meta["mode"] != mode:
        raise _Violation(
            f"{where}: tier {tier!r} with mode {mode!r} (meta['mode'] {meta['mode']!r}); the "
            f"modes of tiers 0-4 are {[m.value for m in MODE_BY_TIER]!r}"
        )
    if meta["ttl"] != ttl:
        raise _Violation(f"{where}: meta['ttl'] is {meta['ttl']!r} but the TTL is {ttl!r}")
    if not isinstance(ttl, int | float) or not 0 <= ttl <= normal_ttl:
        raise _Violation(f"{where}: the TTL is {ttl!r}; it must be within [0, {normal_ttl!r}]")
    if (meta["alert"] is not None) != (tier >= 3) or meta["alert"] == "":
        raise _Violation(
            f"{where}: at tier {tier} meta['alert'] is {meta['alert']!r}; tiers 3-4 need an "
            "alert message, tiers 0-2 none"
        )
    return ttl, tier, meta


def _contract(policy: Any) -> int:
    checked = 0
    by_stakes: dict[str, list[Any]] = {}
    for context in sample_contexts(policy):
        for normal_ttl in NORMAL_TTLS:
            for duration in (None, 0, 0.0):
                ttl, tier, _ = _decide(policy, normal_ttl, duration, context)
                checked += 1
                if tier != 0 or ttl != normal_ttl:
                    raise _Violation(
                        f"with no panic (duration {duration!r}) and normal_ttl {normal_ttl!r} the "
                        f"answer is TTL {ttl!r} at tier {tier}; it must be normal_ttl at tier 0"
                    )
        _, _, meta = _decide(policy, 60, 1.0, context)
        by_stakes.setdefault(meta["stakes"], []).append(context)
        bounds = _thresholds(meta, f"context {context!r}")
        sweep = sorted(
            {
                0.001,
                0.5,
                10 * bounds.tier4,
                *(t + d for t in bounds for d in (-1, 0, 1) if t + d > 0),
            }
        )
        for normal_ttl in NORMAL_TTLS:
            previous = -math.inf
            for minutes in sweep:
                ttl, tier, meta = _decide(policy, normal_ttl, minutes, context)
                checked += 1
                if tier != bounds.tier_of(minutes):
                    raise _Violation(
                        f"at {minutes!r} minutes ({context!r}) the tier is {tier}, expected "
                        f"{bounds.tier_of(minutes)} for the thresholds {tuple(bounds)!r} the "
                        "policy reports"
                    )
                if ttl < previous:
                    raise _Violation(
                        f"the TTL fell from {previous!r} to {ttl!r} at {minutes!r} minutes "
                        f"({context!r}, normal_ttl {normal_ttl!r}); it must never fall as a "
                        "panic lasts"
                    )
                previous = ttl
        for start, tier_started in zip(bounds, (2, 3, 4), strict=True):
            for minutes, expected in (
                (start - EPSILON, tier_started - 1),
                (start, tier_started),
                (start + EPSILON, tier_started),
            ):
                _, tier, _ = _decide(policy, 60, minutes, context)
                checked += 1
                if tier != expected:
                    raise _Violation(
                        f"at {minutes!r} minutes ({context!r}) the tier is {tier}, expected "
                        f"{expected}: tier {tier_started} starts at exactly {start!r} minutes "
                        "per meta['thresholds']"
                    )
    for minutes in (35.123456789, 35.16, 0.04, 123.45):
        _, _, meta = _decide(policy, 60, minutes, None)
        checked += 1
        if meta["panic_duration_minutes"] != round(minutes, 1):
            raise _Violation(
                f"meta['panic_duration_minutes'] is {meta['panic_duration_minutes']!r} for "
                f"{minutes!r} minutes; it must be rounded to 0.1 ({round(minutes, 1)!r})"
            )
    return checked + _priority(policy, by_stakes)


def _priority(policy: Any, by_stakes: Mapping[str, list[Any]]) -> int:
    words: dict[str, str] = {}
    for stakes, contexts in by_stakes.items():
        for context in contexts:
            if isinstance(context, str) and context.endswith(" final"):
                words.setdefault(stakes, context.removesuffix(" final"))
    checked = 0
    ranked = sorted(words, key=_RANK.__getitem__)
    for low_index, low in enumerate(ranked):
        for high in ranked[low_index + 1 :]:
            for text in (f"{words[low]} v {words[high]}", f"{words[high]} / {words[low]}"):
                _, _, meta = _decide(policy, 60, 1.0, text)
                checked += 1
                if meta["stakes"] != high:
                    raise _Violation(
                        f"the mixed context {text!r} is {meta['stakes']!r}; the highest stakes "
                        f"matched ({high!r}) must win"
                    )
    return checked


def check_contract(policy: Any) -> Outcome:
    """Check the decision contract against the thresholds the policy itself reports."""
    try:
        checked = _contract(policy)
    except _Violation as violation:
        return Outcome(False, str(violation), {})
    return Outcome(
        True,
        f"{checked} decisions: no-panic, tier boundaries (just below, at, just above), "
        f"metadata, rounding, TTL range and order, alerts, stakes priority; normal_ttl "
        f"{', '.join(map(str, NORMAL_TTLS))}",
        {"decisions": checked, "normal_ttls": list(NORMAL_TTLS)},
    )


def check_stateless(
    policy: Any, calls: Sequence[Call], *, fresh: Any = None, seed: int = 0
) -> Outcome:
    """Check that no answer depends on the calls made before it, nor on their order.

    The calls are made in order, reversed, shuffled and each one twice in a
    row; with *fresh* (a new instance of the same policy) once more there.
    """

    def answer(target: Any, call: Call) -> Any:
        args, kwargs = call
        try:
            return plain(target.calculate_ttl_strategy(*args, **kwargs))
        except Exception as error:  # errors must be history-free too
            return ("error", type(error).__name__, str(error))

    baseline = [answer(policy, call) for call in calls]
    shuffled = list(range(len(calls)))
    random.Random(seed).shuffle(shuffled)
    orders = {
        "reversed": list(reversed(range(len(calls)))),
        "shuffled": shuffled,
        "repeated": [i for i in range(len(calls)) for _ in (0, 1)],
    }
    made = len(calls)
    for order_name, order in orders.items():
        for index in order:
            made += 1
            got = answer(policy, calls[index])
            if got != baseline[index]:
                args, _ = calls[index]
                return Outcome(
                    False,
                    f"calculate_ttl_strategy{args!r} answered {brief(got)} when called in "
                    f"{order_name} order, unlike the first time (first vs then: "
                    f"{difference(baseline[index], got)}); answers must not depend on earlier "
                    "calls",
                    {"calls": made, "order": order_name},
                )
    if fresh is not None:
        for call, expected in zip(calls, baseline, strict=True):
            if answer(fresh, call) != expected:
                return Outcome(
                    False,
                    f"a fresh instance answered calculate_ttl_strategy{call[0]!r} differently "
                    "from one that had made other calls first; answers must not depend on "
                    "earlier calls",
                    {"calls": made},
                )
    return Outcome(
        True,
        f"{made} calls in order, reversed, shuffled and repeated gave the same answers"
        f"{' as a fresh instance' if fresh is not None else ''}",
        {"calls": made},
    )


#: (normal_ttl, panic_duration_minutes, context, the error it must raise).
BAD_INPUTS: Sequence[tuple[Any, Any, Any, type[Exception]]] = (
    (60, -1, None, ValueError),
    (60, -0.001, None, ValueError),
    (60, math.nan, None, ValueError),
    (60, math.inf, None, ValueError),
    (60, -math.inf, None, ValueError),
    (-1, 10, None, ValueError),
    (math.nan, 10, None, ValueError),
    (math.inf, 10, None, ValueError),
    (60, "35", None, TypeError),
    (60, [35], None, TypeError),
    ("60", 10, None, TypeError),
    (None, 10, None, TypeError),
    (60, 10, 42, TypeError),
    (60, 10, ["Ligue 1"], TypeError),
)


def check_bad_input(policy: Any) -> Outcome:
    """Check that bad arguments raise ValueError or TypeError instead of answering."""
    for normal_ttl, duration, context, expected in BAD_INPUTS:
        where = f"calculate_ttl_strategy({normal_ttl!r}, {duration!r}, {context!r})"
        try:
            answer = policy.calculate_ttl_strategy(normal_ttl, duration, context)
        except expected:
            continue
        except Exception as error:
            return Outcome(
                False,
                f"{where} raised {type(error).__name__}: {error}; "
                f"it must raise {expected.__name__}",
                {"inputs": len(BAD_INPUTS)},
            )
        return Outcome(
            False,
            f"{where} answered {answer[:2]!r} instead of raising {expected.__name__}",
            {"inputs": len(BAD_INPUTS)},
        )
    return Outcome(
        True,
        f"{len(BAD_INPUTS)} bad inputs (negative, NaN, infinite, wrong types) were rejected",
        {"inputs": len(BAD_INPUTS)},
    )
