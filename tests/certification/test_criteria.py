"""The criteria's own clauses: keyword rules, state, history, bad input, copies, inputs."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Mapping
from itertools import islice
from typing import Any, ClassVar

import pytest

from panicquota import AdaptivePanicQuota
from panicquota._shared.state import class_state, difference
from panicquota.certification import (
    Criterion,
    Settings,
    certify,
    check_bad_input,
    check_contract,
    check_no_leak,
    check_pure,
    check_stateless,
)
from panicquota.certification._contexts import (
    KeywordRules,
    exposed_rules,
    fresh_calls,
    keyword_matches,
)
from panicquota.certification._engine import fresh_copy

from .test_units import Spoiled


@pytest.mark.parametrize(
    ("keyword", "text", "matches"),
    [
        pytest.param("Ligue 1", "ligue \t 1 final", True, id="case-and-white-space"),
        pytest.param("Ligue 1", "Ligue 10", False, id="longer-number"),
        pytest.param("UCL", "xUCLx", False, id="glued-inside-a-word"),
        pytest.param("Euro", "Europa League", False, id="prefix-of-a-word"),
        pytest.param("Euro", "Euro 2024 final", True, id="word-in-a-name"),
        pytest.param("C++", "C++0", False, id="keyword-ending-in-punctuation"),
    ],
)
def test_keyword_matches(keyword: str, text: str, matches: bool) -> None:
    """Keywords match case-insensitively, as whole words, any white space for a space."""
    assert keyword_matches(keyword, text) is matches


@pytest.mark.parametrize(
    ("context", "stakes"),
    [
        pytest.param(None, "low_stakes", id="none"),
        pytest.param(42, "low_stakes", id="not-a-context"),
        pytest.param("Cupboard final", "low_stakes", id="inside-a-word"),
        pytest.param("Cup v Derby", "high_stakes", id="highest-wins"),
        pytest.param({"league": "Cup", "tournament": "Derby"}, "high_stakes", id="mapping-mix"),
        pytest.param({"league": "Cup", "other": "Derby"}, "medium_stakes", id="unread-key"),
        pytest.param({"event": 42, "competition": "Cup"}, "medium_stakes", id="non-string"),
        pytest.param("Sunday League", "low_stakes", id="low-keyword"),
    ],
)
def test_keyword_rules_give_the_spec_stakes(context: Any, stakes: str) -> None:
    """The suite's reference classifier reads the four mapping keys, each on its own."""
    rules = KeywordRules(
        {"high_stakes": ("Derby",), "medium_stakes": ("Cup",), "low_stakes": ("Sunday League",)},
        "a test",
    )
    assert rules.stakes_of(context) == stakes


class _Exposing:
    """Exposes whatever it is given as ``importance.rules``."""

    def __init__(self, rules: Any) -> None:
        self.importance = type("Importance", (), {"rules": rules})()


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param(None, None, id="no-rules"),
        pytest.param({"huge": ["Final"]}, None, id="unknown-stakes"),
        pytest.param({"high": 42}, None, id="keywords-not-iterable"),
        pytest.param(
            {"high": ["Final", 3, "  "], "low_stakes": ("Friendly",)},
            {"high_stakes": ("Final",), "medium_stakes": (), "low_stakes": ("Friendly",)},
            id="blank-and-non-strings-dropped",
        ),
    ],
)
def test_exposed_rules(rules: Any, expected: Mapping[str, tuple[str, ...]] | None) -> None:
    """Readable rules are taken, highest stakes first; unreadable ones count as hidden."""
    found = exposed_rules(_Exposing(rules))
    assert (found.keywords if found is not None else None) == expected


class _ReadOnlyByKeyError(dict[str, Any]):
    """Refuses item assignment with the wrong error."""

    def __setitem__(self, key: str, value: Any) -> None:
        raise KeyError(key)


def _no_panic_ttl_zero(ttl: Any, mode: Any, meta: dict[str, Any]) -> Any:
    if meta["tier"] == 0:
        return 0, mode, {**meta, "ttl": 0}
    return ttl, mode, meta


def _tier_4_cheaper(ttl: Any, mode: Any, meta: dict[str, Any]) -> Any:
    if meta["tier"] == 4:
        ttl = min(20, meta["normal_ttl"])
        return ttl, mode, {**meta, "ttl": ttl}
    return ttl, mode, meta


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param(
            _no_panic_ttl_zero,
            "with no panic (duration None) and normal_ttl 60 the answer is TTL 0 at tier 0; it "
            "must be normal_ttl at tier 0",
            id="no-panic-not-normal",
        ),
        pytest.param(
            _tier_4_cheaper,
            "the TTL fell from 30 to 20 at 90 minutes (None, normal_ttl 1000000000); it must "
            "never fall as a panic lasts",
            id="ttl-falls",
        ),
        pytest.param(
            lambda ttl, mode, meta: (ttl, mode, _ReadOnlyByKeyError(meta)),
            "the metadata of calculate_ttl_strategy(60, 35.123456789, {'league': 'Ligue 1'}) "
            "raised KeyError on meta['tier'] = 99; a read-only mapping raises TypeError",
            id="read-only-with-the-wrong-error",
        ),
    ],
)
def test_more_contract_clauses(spoil: Any, message: str) -> None:
    """No panic keeps normal_ttl, a TTL never falls, read-only metadata raises TypeError."""
    outcome = check_contract(Spoiled(spoil))
    assert not outcome.passed
    assert outcome.message == message


def test_the_contract_reads_the_policys_own_keywords() -> None:
    """A keyword that is only in the exposed rules is checked in every form."""
    policy = AdaptivePanicQuota(rules={"high": ["Grand Final"], "low": ["Grand"]})
    outcome = check_contract(policy)
    assert outcome.passed, outcome.message
    assert outcome.figures["decisions"] > 1000


class _Raising:
    """Raises the wrong error for everything."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Fail."""
        raise RuntimeError("nope")


class _AnswersText:
    """Answers with a string."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Answer."""
        return "ok"


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        pytest.param(
            _Raising(),
            "calculate_ttl_strategy(60, -1, None) raised RuntimeError: nope; it must raise "
            "ValueError",
            id="wrong-error",
        ),
        pytest.param(
            _AnswersText(),
            "calculate_ttl_strategy(60, -1, None) answered 'ok' instead of raising ValueError",
            id="not-a-decision",
        ),
    ],
)
def test_bad_input_failures(policy: Any, message: str) -> None:
    """A wrong error or an answer of any shape is reported with the call."""
    outcome = check_bad_input(policy)
    assert not outcome.passed
    assert outcome.message == message


class _Fixed:
    """Always answers the same."""

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Answer with the fixed TTL, or reject a negative TTL."""
        if normal_ttl < 0:
            raise ValueError("negative")
        return self.ttl


CALLS = [((60, 1.0, None), {}), ((-1, 1.0, None), {})]


def test_stateless_history_of_a_finite_iterable() -> None:
    """The history phase ends with its calls; errors are answers like any other."""
    outcome = check_stateless(_Fixed(5), CALLS, history=CALLS * 3)
    assert outcome.passed
    assert outcome.figures["history_calls"] == 6


def test_stateless_history_stops_at_its_time_budget() -> None:
    """A slow policy makes one chunk of calls, not the whole history."""
    ticks = iter(range(100))
    outcome = check_stateless(
        _Fixed(5),
        CALLS,
        history=fresh_calls(None),
        max_seconds=1.5,
        clock=lambda: float(next(ticks)),
    )
    assert outcome.figures["history_calls"] == 1000


def test_stateless_compares_with_a_fresh_instance() -> None:
    """A fresh instance that answers otherwise is reported."""
    outcome = check_stateless(_Fixed(5), CALLS, fresh=_Fixed(6))
    assert not outcome.passed
    assert outcome.message == (
        "a fresh instance answered calculate_ttl_strategy(60, 1.0, None) differently from one "
        "that had made other calls first; answers must not depend on earlier calls"
    )


class _Base:
    shared: ClassVar[list[int]] = []


class _WithClassData(_Base):
    """Has every kind of class attribute."""

    __slots__ = ("slot",)
    limit = 3
    module = threading

    class Nested:
        pass

    @property
    def prop(self) -> int:
        """A property."""
        return 1

    @classmethod
    def build(cls) -> None:
        """A class method."""

    @staticmethod
    def helper() -> None:
        """A static method."""

    def method(self) -> None:
        """A method."""


def test_class_state_is_the_class_data() -> None:
    """Data on the classes counts; methods, descriptors, modules and dunders do not."""
    assert class_state(_WithClassData()) == {"_WithClassData.limit": 3, "_Base.shared": []}


class _AddsClassAttribute:
    """Adds an attribute to its class."""

    def calculate_ttl_strategy(self, *args: Any) -> int:
        """Add."""
        type(self).added = True  # type: ignore[attr-defined]
        return 0


class _DeletesClassAttribute:
    """Deletes an attribute of its class."""

    flag = 1

    def calculate_ttl_strategy(self, *args: Any) -> int:
        """Delete, once."""
        if "flag" in vars(type(self)):
            del type(self).flag
        return 0


@pytest.mark.parametrize(
    ("policy", "change"),
    [
        pytest.param(_AddsClassAttribute(), "_AddsClassAttribute.added was added", id="added"),
        pytest.param(
            _DeletesClassAttribute(), "_DeletesClassAttribute.flag was deleted", id="deleted"
        ),
    ],
)
def test_purity_sees_class_attributes_come_and_go(policy: Any, change: str) -> None:
    """An attribute added to or deleted from the class is a change of state."""
    outcome = check_pure(policy.calculate_ttl_strategy, [((60, 1.0, None), {})])
    assert not outcome.passed
    assert f"changed a class attribute ({change}); calls must leave the class unchanged" in (
        outcome.message
    )


def test_the_leak_check_under_a_running_trace() -> None:
    """With tracemalloc already on, the check measures and leaves it on."""
    policy = AdaptivePanicQuota()
    tracemalloc.start()
    try:
        outcome = check_no_leak(
            policy.calculate_ttl_strategy, [((60, 1.0, None), {})], warmup=100, batch=100
        )
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()
    assert outcome.passed, outcome.message


def test_fresh_calls_never_repeat() -> None:
    """Durations and contexts are new on every call, in every form."""
    calls = list(islice(fresh_calls(AdaptivePanicQuota()), 20_000))
    assert len({args[1] for args, _ in calls}) == len(calls)
    assert len({repr(args[2]) for args, _ in calls}) == len(calls)
    assert {type(args[2]) for args, _ in calls} == {str, dict}
    assert max(len(str(args[2])) for args, _ in calls) > 120


def test_fresh_copy() -> None:
    """A policy is copied through pickle; one that does not pickle is used as it is."""
    policy = AdaptivePanicQuota({"low": (1, 2, 3)})
    copy = fresh_copy(policy, None)
    assert copy is not policy
    assert copy == policy
    locked = _WithLock()
    assert fresh_copy(locked, None) is locked


class _WithLock:
    """Cannot be pickled."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


def test_difference_names_the_first_few() -> None:
    """With a limit, the rest of the differences are counted, not listed."""
    assert difference((1, 2, 3), (4, 5, 6), limit=1) == "[0] 1 != 4, 2 more"
    assert difference((1, 2), (4, 2), limit=1) == "[0] 1 != 4"


def test_each_row_is_reported_as_it_is_known() -> None:
    """``on_result`` sees every row, in order."""
    seen: list[Criterion] = []
    certify(
        AdaptivePanicQuota(),
        criteria=[Criterion.BAD_INPUT, Criterion.PURITY],
        settings=Settings(seeds=()),
        on_result=lambda row: seen.append(row.criterion),
    )
    assert seen == [Criterion.BAD_INPUT, Criterion.PURITY]


def test_stateless_agrees_with_a_fresh_instance() -> None:
    """A fresh instance with the same answers passes, and the report says it was asked."""
    outcome = check_stateless(_Fixed(5), CALLS, fresh=_Fixed(5))
    assert outcome.passed
    assert outcome.message.endswith("gave the same answers as a fresh instance")


def _identity(value: Any) -> Any:
    return value


def test_purity_of_a_plain_function() -> None:
    """A function has no instance and no class to watch: only its arguments count."""
    outcome = check_pure(_identity, [(([1],), {})])
    assert outcome.passed
    assert outcome.message == "1 calls x 2 left their arguments unchanged"
