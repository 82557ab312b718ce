"""AdaptivePanicQuota: validation, configuration, value semantics."""

from __future__ import annotations

import copy
import math
import pickle
from typing import Any

import pytest

from panicquota import (
    AdaptivePanicQuota,
    ConfigError,
    InvalidArgumentError,
    InvalidTypeError,
    MatchImportance,
    PanicMode,
    PanicquotaError,
    Stakes,
    Thresholds,
    TierTTLs,
)


@pytest.mark.parametrize(
    ("normal_ttl", "duration", "error", "message"),
    [
        (-1, 5, InvalidArgumentError, "normal_ttl must be a finite number >= 0, got -1"),
        (math.nan, 5, InvalidArgumentError, "normal_ttl must be a finite number >= 0, got nan"),
        (math.inf, 5, InvalidArgumentError, "normal_ttl must be a finite number >= 0, got inf"),
        ("60", 5, InvalidTypeError, "normal_ttl must be a finite number >= 0, got str '60'"),
        (True, 5, InvalidTypeError, "normal_ttl must be a finite number >= 0, got bool True"),
        (
            60,
            -0.5,
            InvalidArgumentError,
            "panic_duration_minutes must be a finite number >= 0, got -0.5",
        ),
        (
            60,
            math.nan,
            InvalidArgumentError,
            "panic_duration_minutes must be a finite number >= 0, got nan",
        ),
        (
            60,
            -math.inf,
            InvalidArgumentError,
            "panic_duration_minutes must be a finite number >= 0, got -inf",
        ),
        (
            60,
            "35",
            InvalidTypeError,
            "panic_duration_minutes must be a finite number >= 0, got str '35'",
        ),
        (
            60,
            False,
            InvalidTypeError,
            "panic_duration_minutes must be a finite number >= 0, got bool False",
        ),
    ],
)
def test_bad_numbers_are_refused(
    normal_ttl: object, duration: object, error: type[Exception], message: str
) -> None:
    """Negative, NaN, infinite or mistyped TTLs and durations raise with a clear message."""
    with pytest.raises(error) as info:
        AdaptivePanicQuota().calculate_ttl_strategy(normal_ttl, duration, None)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, PanicquotaError)
    assert isinstance(info.value, ValueError if error is InvalidArgumentError else TypeError)


def test_int_subclass_numbers_are_accepted() -> None:
    """Number subclasses (not bool) go through the slow check and are accepted."""

    class Minutes(float):
        pass

    ttl, _, meta = AdaptivePanicQuota().calculate_ttl_strategy(60, Minutes(35.0), "Ligue 1")
    assert (ttl, meta["tier"]) == (5, 2)


def test_custom_thresholds_and_ttls() -> None:
    """Thresholds and TTLs are configurable per stakes level, others keep their defaults."""
    quota = AdaptivePanicQuota({"medium": (10, 20, 30)}, TierTTLs(1, 2, 3, 4))
    assert quota.calculate_ttl_strategy(60, 25, "Ligue 1")[:2] == (3, PanicMode.DEGRADED)
    assert quota.calculate_ttl_strategy(60, 25, "UCL")[:2] == (1, PanicMode.PANIC_FULL)
    assert quota.thresholds[Stakes.HIGH] == Thresholds(60, 180, 360)


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        (
            {"medium": (30, 20, 180)},
            "medium_stakes: thresholds must be positive, finite and strictly increasing "
            "(0 < tier2 < tier3 < tier4), got Thresholds(tier2=30, tier3=20, tier4=180)",
        ),
        (
            {Stakes.HIGH: (0, 1, 2)},
            "high_stakes: thresholds must be positive, finite and strictly increasing "
            "(0 < tier2 < tier3 < tier4), got Thresholds(tier2=0, tier3=1, tier4=2)",
        ),
        (
            {"low_stakes": (10, 10, 20)},
            "low_stakes: thresholds must be positive, finite and strictly increasing "
            "(0 < tier2 < tier3 < tier4), got Thresholds(tier2=10, tier3=10, tier4=20)",
        ),
        (
            {"low": (1, 2, math.inf)},
            "low_stakes: thresholds must be positive, finite and strictly increasing "
            "(0 < tier2 < tier3 < tier4), got Thresholds(tier2=1, tier3=2, tier4=inf)",
        ),
        (
            {"low": {"tier2": 1, "tier3": 2}},
            "low_stakes: thresholds need exactly the keys 'tier2', 'tier3', 'tier4', "
            "got {'tier2': 1, 'tier3': 2}",
        ),
        (
            {"medium": {"tier1": 30, "tier2": 90, "tier3": 180}},
            "medium_stakes: thresholds need exactly the keys 'tier2', 'tier3', 'tier4', "
            "got {'tier1': 30, 'tier2': 90, 'tier3': 180} (each key names the tier that "
            "starts there: the prototype's tier1=30 is tier2=30)",
        ),
        (
            {"low": (1, 2)},
            "low_stakes: thresholds must be Thresholds, a (tier2, tier3, tier4) sequence or a "
            "mapping with those keys, got (1, 2)",
        ),
    ],
)
def test_bad_thresholds_are_refused_at_construction(thresholds: object, message: str) -> None:
    """Thresholds that are not positive and strictly increasing name the stakes and values."""
    with pytest.raises(ConfigError) as info:
        AdaptivePanicQuota(thresholds)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_threshold_of_wrong_type() -> None:
    """A non-numeric threshold is a TypeError naming the stakes."""
    with pytest.raises(InvalidTypeError) as info:
        AdaptivePanicQuota({"high": ("60", 180, 360)})
    assert str(info.value) == (
        "high_stakes: thresholds must be numbers of minutes, "
        "got Thresholds(tier2='60', tier3=180, tier4=360)"
    )


@pytest.mark.parametrize(
    ("ttls", "message"),
    [
        (
            (0, 30, 5, 60),
            "TTLs must be finite, >= 0 and non-decreasing (0 <= tier1 <= tier2 <= tier3 <= "
            "tier4), got TierTTLs(tier1=0, tier2=30, tier3=5, tier4=60)",
        ),
        (
            {"tier5": 1},
            "TTLs accept the keys 'tier1' to 'tier4', got unknown keys ['tier5']",
        ),
        (
            (1, 2),
            "TTLs must be TierTTLs, a (tier1, tier2, tier3, tier4) sequence or a mapping with "
            "those keys, got (1, 2)",
        ),
    ],
)
def test_bad_ttls_are_refused(ttls: object, message: str) -> None:
    """TTLs that fall from one tier to the next, or are malformed, are refused."""
    with pytest.raises(ConfigError) as info:
        AdaptivePanicQuota(ttls=ttls)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_ttls_of_wrong_type() -> None:
    """A non-numeric TTL is a TypeError."""
    with pytest.raises(InvalidTypeError, match=r"^TTLs must be numbers of seconds, got "):
        TierTTLs(0, "5", 30, 60)  # type: ignore[arg-type]


def test_thresholds_of_wrong_container() -> None:
    """Thresholds must come as a mapping of stakes."""
    with pytest.raises(InvalidTypeError) as info:
        AdaptivePanicQuota([(1, 2, 3)])  # type: ignore[arg-type]
    assert str(info.value) == (
        "thresholds must be a mapping of stakes to thresholds, got [(1, 2, 3)]"
    )


def test_rules_and_importance_are_exclusive() -> None:
    """Passing both a classifier and rules is ambiguous and refused."""
    with pytest.raises(ConfigError, match=r"^pass either rules or importance, not both$"):
        AdaptivePanicQuota(rules={"high": ["x"]}, importance=MatchImportance())


def test_custom_importance_is_used() -> None:
    """A ready classifier decides the stakes."""
    quota = AdaptivePanicQuota(importance=MatchImportance({"high": ["Derby"]}))
    assert quota.classify("Derby") is Stakes.HIGH
    assert quota.importance.classify("UCL") is Stakes.LOW


def test_instances_are_independent() -> None:
    """Configuring one instance never changes another (the seed's independence test)."""
    custom = AdaptivePanicQuota({"medium": (10, 20, 30)})
    default = AdaptivePanicQuota()
    assert custom.calculate_ttl_strategy(60, 15, "Ligue 1")[2]["tier"] == 2
    assert default.calculate_ttl_strategy(60, 15, "Ligue 1")[2]["tier"] == 1


def test_policy_is_immutable() -> None:
    """Its configuration cannot be changed after construction."""
    quota = AdaptivePanicQuota()
    with pytest.raises(TypeError):
        quota.thresholds[Stakes.HIGH] = Thresholds(1, 2, 3)  # type: ignore[index]
    with pytest.raises(AttributeError):
        quota.thresholds[Stakes.HIGH].tier2 = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        quota.new_attribute = 1  # type: ignore[attr-defined]


def test_metadata_is_read_only_and_complete() -> None:
    """The metadata has the documented keys and types and cannot be written."""
    ttl, mode, meta = AdaptivePanicQuota().calculate_ttl_strategy(60, 100, {"league": "Ligue 1"})
    assert list(meta) == [
        "tier",
        "mode",
        "ttl",
        "normal_ttl",
        "stakes",
        "panic_duration_minutes",
        "thresholds",
        "alert",
    ]
    assert len(meta) == 8
    assert "tier" in meta
    assert "source" not in meta
    assert isinstance(meta["tier"], int)
    assert isinstance(meta["panic_duration_minutes"], float)
    assert isinstance(meta["thresholds"], Thresholds)
    assert isinstance(meta["alert"], str)
    assert meta.get("missing") is None
    with pytest.raises(KeyError):
        meta["missing"]
    with pytest.raises(TypeError):
        meta["ttl"] = 0  # type: ignore[index]
    assert (ttl, mode) == (meta["ttl"], meta["mode"])


def test_decisions_pickle_and_compare_by_value() -> None:
    """A decision pickled to another process compares equal to the original."""
    decision = AdaptivePanicQuota().calculate_ttl_strategy(60, 35.0, {"league": "Ligue 1"})
    clone = pickle.loads(pickle.dumps(decision))
    assert clone == decision
    assert hash(clone[2]) == hash(decision[2])
    assert dict(clone[2]) == dict(decision[2])
    assert clone != AdaptivePanicQuota().calculate_ttl_strategy(60, 36.0, {"league": "Ligue 1"})
    assert "PANIC_PARTIAL" in repr(decision[2])


def test_policies_pickle_and_compare_by_value() -> None:
    """A policy pickled or deep-copied is equal to the original and decides alike."""
    quota = AdaptivePanicQuota({"medium": (10, 20, 30)}, rules={"high": ["Final"]})
    for clone in (pickle.loads(pickle.dumps(quota)), copy.deepcopy(quota)):
        assert clone == quota
        assert hash(clone) == hash(quota)
        assert clone.calculate_ttl_strategy(60, 25, "Cup Final") == quota.calculate_ttl_strategy(
            60, 25, "Cup Final"
        )
    assert quota != AdaptivePanicQuota()
    assert quota != "policy"
    assert "Final" in repr(quota)


class StrictlyAfter(AdaptivePanicQuota):
    """A subclass that decides differently and carries its own attribute."""

    def __init__(self, margin: float) -> None:
        super().__init__()
        self.margin = margin

    def calculate_ttl_strategy(
        self, normal_ttl: float, panic_duration_minutes: float | None, context: Any = None
    ) -> Any:
        minutes = panic_duration_minutes
        if minutes:
            minutes = max(minutes - self.margin, 1e-9)
        return super().calculate_ttl_strategy(normal_ttl, minutes, context)


def test_a_subclass_pickles_as_itself() -> None:
    """A subclass comes back from pickle and copies as the subclass, its attributes intact."""
    quota = StrictlyAfter(margin=1e-9)
    for clone in (pickle.loads(pickle.dumps(quota)), copy.deepcopy(quota), copy.copy(quota)):
        assert (type(clone), clone.margin, clone) == (StrictlyAfter, 1e-9, quota)
        assert clone.calculate_ttl_strategy(60, 15)[2]["tier"] == 1
    assert quota != AdaptivePanicQuota()
    assert quota != StrictlyAfter(margin=5)
    assert repr(quota).startswith("StrictlyAfter(thresholds=")


def test_panic_mode_values_equal_names() -> None:
    """PanicMode is a str enum of five members whose values are their names."""
    assert [m.value for m in PanicMode] == [m.name for m in PanicMode]
    assert len(PanicMode) == 5
    assert PanicMode.CHRONIC == "CHRONIC"


def test_thresholds_helpers() -> None:
    """Thresholds unpack, convert to a dict and place a duration in its tier."""
    bounds = Thresholds(30, 90, 180)
    assert tuple(bounds) == (30, 90, 180)
    assert bounds.as_dict() == {"tier2": 30, "tier3": 90, "tier4": 180}
    assert [bounds.tier_of(m) for m in (0, 30, 90, 180)] == [1, 2, 3, 4]
    assert Thresholds.coerce({"tier2": 1, "tier3": 2, "tier4": 3}) == Thresholds(1, 2, 3)
    assert TierTTLs.coerce({"tier2": 7}) == TierTTLs(0, 7, 30, 60)
    assert TierTTLs.coerce((0, 1, 2, 3)).as_dict() == {
        "tier1": 0,
        "tier2": 1,
        "tier3": 2,
        "tier4": 3,
    }
