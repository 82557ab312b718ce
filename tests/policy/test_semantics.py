"""Configuration semantics a new user meets: levels, keys read, bad values (issue 12)."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import pytest

from panicquota import (
    AdaptivePanicQuota,
    ConfigError,
    InvalidArgumentError,
    MatchImportance,
    Stakes,
)
from panicquota.errors import ContextKeysWarning, InvalidTypeError, PanicquotaWarning
from panicquota.stakes import DEFAULT_RULES


def test_naming_a_level_in_code_keeps_the_other_levels() -> None:
    """rules={"high": [...]} replaces the high keywords only: Ligue 1 stays medium stakes."""
    quota = AdaptivePanicQuota(rules={"high": ["Cup Final"]})
    assert quota.importance.rules[Stakes.MEDIUM] == DEFAULT_RULES[Stakes.MEDIUM]
    assert quota.importance.rules[Stakes.HIGH] == ("Cup Final",)
    ttl, mode, _ = quota.calculate_ttl_strategy(60, 50, {"league": "Ligue 1"})
    assert (ttl, mode.value) == (5, "PANIC_PARTIAL")


def test_code_and_toml_mean_the_same(tmp_path: Path) -> None:
    """The same keywords from code and from TOML give equal policies."""
    path = tmp_path / "policy.toml"
    path.write_text('[keywords]\nhigh = ["Cup Final"]\n', encoding="utf-8")
    assert AdaptivePanicQuota.from_toml(path) == AdaptivePanicQuota(rules={"high": ["Cup Final"]})


def test_an_empty_list_empties_a_level() -> None:
    """A level can still be emptied on purpose with []."""
    quota = AdaptivePanicQuota(rules={"medium": []})
    assert quota.classify({"league": "Ligue 1"}) is Stakes.LOW
    assert quota.classify("UCL") is Stakes.HIGH


def test_unread_mapping_warns_once_per_key_set() -> None:
    """A non-empty mapping with none of the keys read warns once per distinct key set."""
    quota = AdaptivePanicQuota()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            quota.calculate_ttl_strategy(60, 50, {"leauge": "Ligue 1"})
        quota.calculate_ttl_strategy(60, 50, {"leauge": "Serie A", "x": 1})
        quota.calculate_ttl_strategy(60, 50, {})  # empty: carries nothing, no warning
        quota.calculate_ttl_strategy(60, 50, {"league": None})  # a key read, even if None
    assert [str(w.message) for w in caught] == [
        "context mapping has none of the keys read ('league', 'competition', 'tournament' "
        "and 'event'), so it is low stakes; its keys: 'leauge' (set the keys read with "
        "MatchImportance(keys=...) or context_keys in the configuration)",
        "context mapping has none of the keys read ('league', 'competition', 'tournament' "
        "and 'event'), so it is low stakes; its keys: 'leauge', 'x' (set the keys read with "
        "MatchImportance(keys=...) or context_keys in the configuration)",
    ]
    assert all(w.category is ContextKeysWarning for w in caught)
    assert issubclass(ContextKeysWarning, PanicquotaWarning)
    assert caught[0].filename == __file__  # points at the caller


def test_classify_warns_too() -> None:
    """MatchImportance.classify warns about an unread mapping as the policy does."""
    with pytest.warns(ContextKeysWarning, match=r"its keys: 'leauge' "):
        assert MatchImportance().classify({"leauge": "Ligue 1"}) is Stakes.LOW


def test_keys_read_are_configurable(tmp_path: Path) -> None:
    """context_keys sets the mapping keys read, in code and in TOML alike."""
    quota = AdaptivePanicQuota(context_keys=["cup", "league"])
    assert quota.classify({"cup": "Champions League"}) is Stakes.HIGH
    ttl, mode, _ = quota.calculate_ttl_strategy(60, 50, {"league": "Ligue 1"})
    assert (ttl, mode.value) == (5, "PANIC_PARTIAL")
    with pytest.warns(ContextKeysWarning, match=r"keys read \('cup' and 'league'\)"):
        quota.calculate_ttl_strategy(60, 50, {"competition": "Ligue 1"})
    path = tmp_path / "policy.toml"
    path.write_text('context_keys = ["cup", "league"]\n', encoding="utf-8")
    from_file = AdaptivePanicQuota.from_toml(path)
    assert from_file == quota
    assert pickle.loads(pickle.dumps(from_file)) == quota
    assert repr(quota).endswith(", context_keys=('cup', 'league'))")
    assert quota != AdaptivePanicQuota()


def test_context_keys_and_importance_together_are_refused() -> None:
    """A ready classifier already has its keys: both at once is an error."""
    with pytest.raises(ConfigError, match=r"^pass either context_keys or importance, not both$"):
        AdaptivePanicQuota(importance=MatchImportance(), context_keys=["league"])


@pytest.mark.parametrize("keys", ["league", [], ["league", "league"], ["league", 3]])
def test_bad_keys_are_refused(keys: object) -> None:
    """Keys read must be a non-empty list of distinct non-empty strings."""
    with pytest.raises(ConfigError) as info:
        MatchImportance(keys=keys)  # type: ignore[arg-type]
    assert str(info.value).startswith("context keys must be a non-empty list of distinct, ")


@pytest.mark.parametrize("value", [["Ligue 1"], {"name": "Ligue 1"}])
def test_unhashable_context_value(value: object) -> None:
    """A list or dict under a key read is refused with the usual message, not unhashable."""
    expected = f"context['league'] must be a string or None, got {type(value).__name__} {value!r}"
    with pytest.raises(InvalidTypeError) as info:
        AdaptivePanicQuota().calculate_ttl_strategy(60, 50, {"league": value})
    assert str(info.value) == expected
    with pytest.raises(InvalidTypeError) as info:
        MatchImportance().classify({"league": value})
    assert str(info.value) == expected


def test_integer_duration_above_float_range() -> None:
    """An int too large for a float is refused up front (no OverflowError later)."""
    huge = 10**400
    with pytest.raises(InvalidArgumentError) as info:
        AdaptivePanicQuota().calculate_ttl_strategy(60, huge, None)
    assert str(info.value) == f"panic_duration_minutes must be a finite number >= 0, got {huge!r}"
    with pytest.raises(InvalidArgumentError, match=r"^normal_ttl must be a finite number >= 0"):
        AdaptivePanicQuota().calculate_ttl_strategy(huge, 5, None)


def test_from_toml_with_a_nul_in_the_path() -> None:
    """A path with a NUL character is a ConfigError, not a bare ValueError."""
    with pytest.raises(ConfigError) as info:
        AdaptivePanicQuota.from_toml("a\x00b")
    assert str(info.value) == (
        "a\x00b: cannot read it: the path 'a\\x00b' contains a NUL character"
    )


def test_not_utf8_config(tmp_path: Path) -> None:
    """A configuration file that is not UTF-8 is one ConfigError naming the file."""
    path = tmp_path / "policy.toml"
    path.write_bytes(b'[keywords]\nhigh = ["Coupe \xe9t\xe9"]\n')
    with pytest.raises(ConfigError) as info:
        AdaptivePanicQuota.from_toml(path)
    assert str(info.value) == (
        f"{path}: not UTF-8 text (byte 0xe9 at offset 26); TOML files must be UTF-8"
    )
    assert info.value.source == str(path)


def test_config_error_is_structured_and_pickles() -> None:
    """ConfigError carries its source and key, and keeps them through pickling."""
    error = ConfigError("must be a number", source="p.toml", key="ttls.tier2")
    assert str(error) == "p.toml: key 'ttls.tier2': must be a number"
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.reason, again.source, again.key) == (
        ConfigError,
        "must be a number",
        "p.toml",
        "ttls.tier2",
    )
    assert str(error.located(source="other", key="other")) == str(error)
    assert str(ConfigError("plain")) == "plain"


def test_one_key_read_and_a_full_warning_memory() -> None:
    """One key is named alone; after 1024 distinct key sets the memory starts over."""
    importance = MatchImportance(keys=["cup"])
    with pytest.warns(ContextKeysWarning, match=r"none of the keys read \('cup'\), "):
        importance.classify({"league": "UCL"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for index in range(1024):
            importance.classify({f"k{index}": "x"})
        importance.classify({"league": "UCL"})  # forgotten once the memory was full
    assert len(caught) == 1025
    assert "its keys: 'league' " in str(caught[-1].message)
