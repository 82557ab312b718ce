"""The certification suite: a correct policy passes, each planted defect fails its criterion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panicquota import AdaptivePanicQuota
from panicquota.certification import Criterion, Settings, certify, load_target
from panicquota.errors import InvalidArgumentError, InvalidTypeError

from . import planted

HERE = Path(__file__).parent
#: Few fresh interpreters: each costs a Python start-up.
FAST = Settings(seeds=(0, 1), latency_samples=500)


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> str:
    """Put the planted policies on sys.path as the top-level module ``planted``."""
    monkeypatch.syspath_prepend(str(HERE))
    return "planted"


@pytest.mark.parametrize(
    ("target"),
    [
        pytest.param("panicquota:AdaptivePanicQuota", id="default-class"),
        pytest.param("planted:RECONFIGURED", id="reconfigured-object"),
        pytest.param("planted:make_reconfigured", id="reconfigured-factory"),
        pytest.param("planted:OwnPolicy", id="own-implementation"),
        pytest.param("planted:OwnPolicyWithMapping", id="own-implementation-mapping-thresholds"),
    ],
)
def test_a_correct_policy_passes_every_criterion(on_path: str, target: str) -> None:
    """Correct policies, with default or other thresholds, TTLs and keywords, are certified."""
    report = certify(target, settings=FAST)
    failures = [r.outcome.message for r in report.results if not r.outcome.passed]
    assert failures == []
    assert [r.criterion for r in report.results] == list(Criterion)
    assert report.passed


@pytest.mark.parametrize(
    ("policy", "criterion", "message"),
    [
        pytest.param(
            "Stateful",
            Criterion.STATELESSNESS,
            "[2]['panic_duration_minutes'] 400.0 != 10000.0); answers must not depend on "
            "earlier calls",
            id="stateful",
        ),
        pytest.param(
            "Leaking",
            Criterion.LEAK,
            "more live objects after 5,000 calls past a 1,000-call warm-up (growing batch "
            "after batch; the budget is 0); most growth at ",
            id="leaking",
        ),
        pytest.param(
            "Slow",
            Criterion.LATENCY,
            "in its best round; the budget is p99 < 1 ms net of the control",
            id="slow",
        ),
        pytest.param(
            "MutatesContext",
            Criterion.PURITY,
            "Planted.calculate_ttl_strategy(300, None, {'league': 'Champions League'}) changed "
            "its argument 3 (['seen'] was added (True)); calls must leave their arguments "
            "unchanged",
            id="mutates-context",
        ),
        pytest.param(
            "OffByOne",
            Criterion.CONTRACT,
            "at 15 minutes (None) the tier is 1, expected 2",
            id="off-by-one",
        ),
        pytest.param(
            "RoundsFirst",
            Criterion.CONTRACT,
            "at 14.9999 minutes (None) the tier is 2, expected 1",
            id="rounds-before-comparing",
        ),
        pytest.param(
            "TTLAboveNormal",
            Criterion.CONTRACT,
            "calculate_ttl_strategy(10, 45, None): the TTL is 30; it must be within [0, 10]",
            id="ttl-above-normal",
        ),
        pytest.param(
            "MissingMetadata",
            Criterion.CONTRACT,
            "the metadata lacks the keys ['alert']",
            id="missing-metadata",
        ),
        pytest.param(
            "LowestStakesWins",
            Criterion.CONTRACT,
            "the mixed context 'Ligue 1 v Champions League' is 'medium_stakes'",
            id="lowest-stakes-wins",
        ),
        pytest.param(
            "EarlyAlert", Criterion.CONTRACT, "at tier 2 meta['alert'] is", id="early-alert"
        ),
        pytest.param(
            "NegativeAccepted",
            Criterion.BAD_INPUT,
            "calculate_ttl_strategy(60, -1, None) answered (60, <PanicMode.NORMAL: 'NORMAL'>) "
            "instead of raising ValueError",
            id="negative-duration-accepted",
        ),
    ],
)
def test_a_planted_defect_fails_its_criterion(
    on_path: str, policy: str, criterion: Criterion, message: str
) -> None:
    """Each planted defect fails its criterion with a sentence that says what was wrong."""
    report = certify(f"planted:{policy}", criteria=[criterion], settings=FAST)
    (result,) = report.results
    assert not result.outcome.passed
    assert not report.passed
    assert message in result.outcome.message


def test_a_hash_order_dependent_policy_fails_determinism(on_path: str) -> None:
    """A policy whose answer depends on set order fails across hash seeds, with a command."""
    report = certify("planted:HashOrder", criteria=[Criterion.DETERMINISM], settings=FAST)
    (result,) = report.results
    assert not result.outcome.passed
    assert "in a fresh interpreter with PYTHONHASHSEED=" in result.outcome.message
    command = result.outcome.figures["reproduce"]
    assert command.startswith("PYTHONHASHSEED=")
    assert "load_target('planted:HashOrder').calculate_ttl_strategy(" in command
    assert "here vs there: [2]['alert'] 'panic tier" in result.outcome.message


def test_the_hash_order_policy_is_consistent_in_one_process(on_path: str) -> None:
    """The same defect passes in-process repeats: only fresh interpreters reveal it."""
    settings = Settings(seeds=())
    report = certify("planted:HashOrder", criteria=[Criterion.DETERMINISM], settings=settings)
    assert report.passed


def test_a_stateful_policy_also_fails_purity(on_path: str) -> None:
    """Remembering calls in an attribute changes the instance, which purity reports."""
    report = certify("planted:Stateful", criteria=[Criterion.PURITY], settings=FAST)
    (result,) = report.results
    assert "changed its instance Stateful (.longest: 0.0 became" in result.outcome.message


def test_a_policy_object_is_certified_in_process() -> None:
    """An object (not a spec) is certified too; its bound method is pickled to the children."""
    report = certify(AdaptivePanicQuota({"low": (1, 2, 3)}), settings=FAST)
    assert report.passed
    assert report.target.startswith("AdaptivePanicQuota(")


def test_the_report_as_json(on_path: str, tmp_path: Path) -> None:
    """The JSON report has criteria, figures, verdicts, versions and the machine."""
    report = certify("planted:OffByOne", criteria=[Criterion.CONTRACT, Criterion.BAD_INPUT])
    path = tmp_path / "report.json"
    report.write_json(path)
    data = json.loads(path.read_text())
    assert data["target"] == "planted:OffByOne"
    assert data["passed"] is False
    assert [(c["criterion"], c["passed"]) for c in data["criteria"]] == [
        ("contract", False),
        ("bad_input", True),
    ]
    assert data["criteria"][1]["figures"] == {"inputs": 14}
    assert set(data["versions"]) == {"panicquota", "python", "implementation"}
    assert {"platform", "machine", "cpu_count"} <= set(data["machine"])


def test_a_crashing_criterion_is_a_failed_one() -> None:
    """A check that cannot run fails its row instead of aborting the run."""

    class Unpicklable(planted.Planted):
        pass

    report = certify(Unpicklable(), criteria=[Criterion.DETERMINISM], settings=FAST)
    (result,) = report.results
    assert not result.outcome.passed
    assert result.outcome.message.startswith("the check itself failed: InvalidTypeError: ")


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (
            "nocolon",
            InvalidArgumentError,
            "the target must look like 'package.module:attr', got 'nocolon'",
        ),
        (
            "no_such_module_xyz:attr",
            InvalidArgumentError,
            "cannot import the target's module 'no_such_module_xyz' (No module named "
            "'no_such_module_xyz'); check the name and that it is on sys.path",
        ),
        (
            "planted:Nope",
            InvalidArgumentError,
            "the target 'planted:Nope' names no attribute 'Nope' in 'planted'",
        ),
        (
            "planted:broken_factory",
            InvalidArgumentError,
            "calling the target 'planted:broken_factory' to build the policy raised ConfigError: "
            "medium_stakes: thresholds must be positive, finite and strictly increasing "
            "(0 < tier2 < tier3 < tier4), got Thresholds(tier2=30, tier3=20, tier4=10)",
        ),
        (
            "planted:NOT_A_POLICY",
            InvalidTypeError,
            "the target 'planted:NOT_A_POLICY' must be a policy object with "
            "calculate_ttl_strategy, a class or a zero-argument factory of one, got int 42",
        ),
    ],
)
def test_load_target_errors(on_path: str, spec: str, error: type[Exception], message: str) -> None:
    """A target that cannot be loaded says what was wrong and what is accepted."""
    with pytest.raises(error) as raised:
        load_target(spec)
    assert str(raised.value) == message


def test_load_target_instantiates_a_class(on_path: str) -> None:
    """A class target is instantiated; an object target is returned as is."""
    assert type(load_target("planted:OwnPolicy")).__name__ == "OwnPolicy"
    assert load_target("planted:RECONFIGURED") is load_target("planted:make_reconfigured")
