"""Policy configuration from TOML files and pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicquota import AdaptivePanicQuota, ConfigError, Stakes, Thresholds, TierTTLs
from panicquota.config import policy_config_from_mapping


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_standalone_file(tmp_path: Path) -> None:
    """A standalone file configures thresholds, TTLs and keywords at its top level."""
    path = write(
        tmp_path / "policy.toml",
        """
[thresholds]
medium = [20, 60, 120]
high_stakes = { tier2 = 90, tier3 = 240, tier4 = 480 }

[ttls]
tier2 = 10

[keywords]
high = ["Cup Final"]
""",
    )
    quota = AdaptivePanicQuota.from_toml(path)
    assert quota.thresholds[Stakes.MEDIUM] == Thresholds(20, 60, 120)
    assert quota.thresholds[Stakes.HIGH] == Thresholds(90, 240, 480)
    assert quota.thresholds[Stakes.LOW] == Thresholds(15, 45, 90)
    assert quota.ttls == TierTTLs(0, 10, 30, 60)
    assert quota.classify("FA Cup Final") is Stakes.HIGH
    assert quota.classify("UCL") is Stakes.LOW
    assert quota.classify("Ligue 1") is Stakes.MEDIUM  # untouched levels keep their keywords


def test_pyproject_tool_table(tmp_path: Path) -> None:
    """[tool.panicquota] in a pyproject.toml is read."""
    path = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.panicquota.thresholds]\nlow = [5, 10, 20]\n',
    )
    assert AdaptivePanicQuota.from_toml(path).thresholds[Stakes.LOW] == Thresholds(5, 10, 20)


def test_empty_file_is_the_default_policy(tmp_path: Path) -> None:
    """A file with no tables gives the default policy."""
    assert AdaptivePanicQuota.from_toml(write(tmp_path / "p.toml", "")) == AdaptivePanicQuota()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[thresholds]\nmedium = [30, 20, 180]\n",
            "{path}: key 'thresholds.medium': thresholds must be positive, finite and strictly "
            "increasing (0 < tier2 < tier3 < tier4), got Thresholds(tier2=30, tier3=20, tier4=180)",
        ),
        (
            "[thresholds]\nhuge = [1, 2, 3]\n",
            "{path}: key 'thresholds.huge': unknown stakes 'huge'; use one of 'high_stakes', "
            "'medium_stakes', 'low_stakes'",
        ),
        (
            "[tresholds]\n",
            "{path}: key 'tresholds': unknown key; accepted: 'thresholds', 'ttls', 'keywords', "
            "'context_keys'",
        ),
        ("thresholds = 3\n", "{path}: key 'thresholds': must be a table keyed by stakes, got 3"),
        ("ttls = [1]\n", "{path}: key 'ttls': must be a table of tier1..tier4, got [1]"),
        (
            "[ttls]\ntier2 = 100\n",
            "{path}: key 'ttls': TTLs must be finite, >= 0 and non-decreasing (0 <= tier1 <= "
            "tier2 <= tier3 <= tier4), got TierTTLs(tier1=0, tier2=100, tier3=30, tier4=60)",
        ),
        (
            "[ttls]\nteir2 = 10\n",
            "{path}: key 'ttls.teir2': unknown key; accepted: 'ttls.tier1', 'ttls.tier2', "
            "'ttls.tier3', 'ttls.tier4'",
        ),
        (
            "[ttls]\ntier2 = 'ten'\n",
            "{path}: key 'ttls.tier2': a TTL must be a finite number >= 0, got str 'ten'",
        ),
        (
            "[keywords]\nhigh = [1]\n",
            "{path}: key 'keywords.high': keywords for high_stakes must be strings, got 1",
        ),
        (
            "[thresholds]\nlow = [1, 'x', 3]\n",
            "{path}: key 'thresholds.low': thresholds must be numbers of minutes, got "
            "Thresholds(tier2=1, tier3='x', tier4=3)",
        ),
        (
            "context_keys = []\n",
            "{path}: key 'context_keys': context keys must be a non-empty list of distinct, "
            "non-empty strings, got ()",
        ),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    """Invalid configuration is refused with the file and the key in the message."""
    path = write(tmp_path / "policy.toml", text)
    with pytest.raises(ConfigError) as info:
        AdaptivePanicQuota.from_toml(path)
    assert str(info.value) == message.format(path=path)


def test_invalid_toml(tmp_path: Path) -> None:
    """A syntax error names the file and passes on tomllib's explanation."""
    path = write(tmp_path / "policy.toml", "[thresholds\n")
    with pytest.raises(ConfigError) as info:
        AdaptivePanicQuota.from_toml(path)
    assert str(info.value).startswith(f"{path}: not valid TOML: ")
    assert "line 1" in str(info.value)


def test_error_names_the_tool_key(tmp_path: Path) -> None:
    """In a pyproject.toml the dotted key includes tool.panicquota."""
    path = write(tmp_path / "pyproject.toml", "[tool.panicquota]\nttl = 3\n")
    with pytest.raises(ConfigError) as info:
        AdaptivePanicQuota.from_toml(path)
    assert str(info.value) == (
        f"{path}: key 'tool.panicquota.ttl': unknown key; accepted: "
        "'tool.panicquota.thresholds', 'tool.panicquota.ttls', 'tool.panicquota.keywords', "
        "'tool.panicquota.context_keys'"
    )


def test_pyproject_without_table(tmp_path: Path) -> None:
    """A pyproject.toml with no [tool.panicquota] is an error, not a silent default."""
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"no \[tool.panicquota\] table$"):
        AdaptivePanicQuota.from_toml(path)


def test_missing_file(tmp_path: Path) -> None:
    """A missing file says so."""
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        AdaptivePanicQuota.from_toml(path)
    assert str(info.value) == f"{path}: no such configuration file"


def test_unreadable_file(tmp_path: Path) -> None:
    """A directory instead of a file is reported as unreadable."""
    with pytest.raises(ConfigError, match=r": cannot read it: "):
        AdaptivePanicQuota.from_toml(tmp_path)


def test_mapping_must_be_a_table() -> None:
    """A parsed section that is not a table is refused."""
    with pytest.raises(ConfigError) as info:
        policy_config_from_mapping([], source="scenario.toml", prefix="policy")  # type: ignore[arg-type]
    assert str(info.value) == "scenario.toml: key 'policy': must be a table, got []"
    assert (info.value.source, info.value.key) == ("scenario.toml", "policy")
