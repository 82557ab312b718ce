"""Classification of request contexts into stakes."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from types import MappingProxyType

import pytest

from panicquota import ConfigError, InvalidTypeError, MatchImportance, Stakes
from panicquota.errors import ContextKeysWarning


@pytest.mark.parametrize(
    ("context", "stakes"),
    [
        ({"league": "UCL"}, Stakes.HIGH),
        ({"league": "Champions League"}, Stakes.HIGH),
        ("FIFA World Cup 2026", Stakes.HIGH),
        ("Euro 2028", Stakes.HIGH),
        ("UEFA Champions League Final", Stakes.HIGH),
        ({"league": "Premier League"}, Stakes.MEDIUM),
        ("La Liga", Stakes.MEDIUM),
        ("Serie A", Stakes.MEDIUM),
        ("Bundesliga", Stakes.MEDIUM),
        ("UEFA Europa League", Stakes.MEDIUM),
        ({"league": "Ligue 2"}, Stakes.LOW),
        ("", Stakes.LOW),
        ({}, Stakes.LOW),
        (None, Stakes.LOW),
    ],
)
def test_default_keywords(context: object, stakes: Stakes) -> None:
    """The default rules of SPEC §3 classify known competitions."""
    assert MatchImportance().classify(context) is stakes  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["ligue 1", "LIGUE 1", "Ligue 1", "lIgUe 1"])
def test_case_insensitive(text: str) -> None:
    """Case does not matter."""
    assert MatchImportance().classify(text) is Stakes.MEDIUM


@pytest.mark.parametrize("text", ["Ligue  1", "Ligue\t1", "Ligue \n 1", "  Ligue 1  "])
def test_runs_of_white_space_count_as_one(text: str) -> None:
    """Any run of white space matches the single space of a keyword."""
    assert MatchImportance().classify(text) is Stakes.MEDIUM


@pytest.mark.parametrize(
    "text",
    ["Ligue 10", "Ligue 1B", "Eurovision", "UCLA basketball", "Serie AB", "Premier Leagues"],
)
def test_whole_words_only(text: str) -> None:
    """A keyword inside a longer word does not match."""
    assert MatchImportance().classify(text) is Stakes.LOW


def test_euro_does_not_swallow_europa_league() -> None:
    """ "Euro" (high) is a whole word: "Europa League" stays medium."""
    assert MatchImportance().classify("Europa League") is Stakes.MEDIUM


@pytest.mark.parametrize(
    "context",
    [
        "Ligue 1 vs UCL qualifier",
        {"league": "Ligue 1", "competition": "UCL"},
        {"league": "UCL", "event": "Ligue 1 derby"},
    ],
)
def test_highest_stakes_wins(context: object) -> None:
    """When keywords of several levels match, the highest stakes wins ("UCL" beats "Ligue 1")."""
    assert MatchImportance().classify(context) is Stakes.HIGH  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["league", "competition", "tournament", "event"])
def test_mapping_is_read_from_its_four_fields(field: str) -> None:
    """A mapping context is read from league, competition, tournament and event."""
    assert MatchImportance().classify({field: "World Cup"}) is Stakes.HIGH


def test_other_mapping_fields_are_ignored() -> None:
    """Values outside the four fields never change the stakes."""
    with pytest.warns(ContextKeysWarning):
        assert MatchImportance().classify({"home": "UCL", "market": "Ligue 1"}) is Stakes.LOW


def test_keyword_cannot_straddle_two_fields() -> None:
    """ "Ligue" in one field and "1" in the next do not make "Ligue 1"."""
    assert MatchImportance().classify({"league": "Ligue", "event": "1"}) is Stakes.LOW


@pytest.mark.parametrize(
    "context",
    [OrderedDict(league="UCL"), MappingProxyType({"league": "UCL"})],
    ids=["ordered-dict", "mapping-proxy"],
)
def test_any_mapping_is_accepted(context: object) -> None:
    """Mappings other than dict are classified the same way."""
    assert MatchImportance().classify(context) is Stakes.HIGH  # type: ignore[arg-type]


def test_str_subclass_is_classified_by_its_text() -> None:
    """A str subclass is classified like the plain string."""

    class Name(str):
        pass

    assert MatchImportance().classify(Name("UCL")) is Stakes.HIGH


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            42,
            "context must be a mapping (read by its 'league', 'competition', 'tournament' "
            "and 'event' values), a string or None, got int 42",
        ),
        (
            ["UCL"],
            "context must be a mapping (read by its 'league', 'competition', 'tournament' "
            "and 'event' values), a string or None, got list ['UCL']",
        ),
        ({"league": 1}, "context['league'] must be a string or None, got int 1"),
    ],
)
def test_wrong_context_type_is_a_type_error(context: object, message: str) -> None:
    """A context that is not a mapping, string or None is refused with a clear TypeError."""
    with pytest.raises(TypeError) as info:
        MatchImportance().classify(context)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, InvalidTypeError)


def test_custom_rules() -> None:
    """Configured keywords replace the defaults; levels left out have none."""
    importance = MatchImportance({"high": ["Cup Final"], Stakes.MEDIUM: ["Derby"]})
    assert importance.classify("FA Cup Final") is Stakes.HIGH
    assert importance.classify("North London Derby") is Stakes.MEDIUM
    assert importance.classify("UCL") is Stakes.LOW


@pytest.mark.parametrize(
    ("rules", "error", "message"),
    [
        (
            {"huge": ["x"]},
            ConfigError,
            "unknown stakes 'huge'; use one of 'high_stakes', 'medium_stakes', 'low_stakes'",
        ),
        (
            {"high": "UCL"},
            InvalidTypeError,
            "keywords for high_stakes must be a list of strings, got 'UCL'",
        ),
        ({"high": [1]}, InvalidTypeError, "keywords for high_stakes must be strings, got 1"),
        ({"high": ["  "]}, ConfigError, "keywords for high_stakes must not be blank, got '  '"),
        (
            ["UCL"],
            InvalidTypeError,
            "rules must be a mapping of stakes to keywords, got list ['UCL']",
        ),
    ],
)
def test_bad_rules_are_refused(rules: object, error: type[Exception], message: str) -> None:
    """Malformed keyword rules are refused when the classifier is built."""
    with pytest.raises(error) as info:
        MatchImportance(rules)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_keywords_with_regex_characters_are_literal() -> None:
    """Keywords are matched literally, not as regular expressions."""
    importance = MatchImportance({"high": ["A.C. Milan (final)"]})
    assert importance.classify("a.c.  milan (FINAL)") is Stakes.HIGH
    assert importance.classify("ABC Milan xfinalx") is Stakes.LOW


def test_memo_is_bounded() -> None:
    """Many distinct contexts never grow the memo past its size."""
    importance = MatchImportance(cache_size=16)
    for number in range(1000):
        assert importance.classify(f"match {number}") is Stakes.LOW
    assert len(importance._memo) <= 16


def test_memo_can_be_disabled() -> None:
    """cache_size=0 classifies without memoising."""
    importance = MatchImportance(cache_size=0)
    assert importance.classify("UCL") is Stakes.HIGH
    assert len(importance._memo) == 0


def test_bad_cache_size() -> None:
    """A negative cache size is refused."""
    with pytest.raises(ConfigError, match=r"^cache_size must be an int >= 0, got -1$"):
        MatchImportance(cache_size=-1)


def test_pickles_and_compares_by_value() -> None:
    """A classifier survives pickling and compares by its rules, not its memo."""
    importance = MatchImportance({"high": ["Final"]})
    importance.classify("Final")
    clone = pickle.loads(pickle.dumps(importance))
    assert clone == importance
    assert hash(clone) == hash(importance)
    assert clone != MatchImportance()
    assert clone.classify("Cup Final") is Stakes.HIGH
    assert "Final" in repr(clone)


def test_stakes_is_a_str_enum() -> None:
    """Stakes members are strings equal to their documented values."""
    assert Stakes.MEDIUM == "medium_stakes"
    assert [s.value for s in Stakes] == ["high_stakes", "medium_stakes", "low_stakes"]


def test_memo_pickles_empty() -> None:
    """A memo is a cache, not a value: a pickled memo comes back empty and still computes."""
    memo = MatchImportance().memo(lambda stakes: stakes.value)
    assert memo["UCL"] == "high_stakes"
    clone = pickle.loads(pickle.dumps(MatchImportance()))
    assert len(clone._memo) == 0
    assert clone.classify("UCL") is Stakes.HIGH
