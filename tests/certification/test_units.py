"""The certification's building blocks: contract clauses, fresh interpreters, snapshots."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import pytest_panicquota
from panicquota import AdaptivePanicQuota
from panicquota.certification import check_contract, check_pure, load_target
from panicquota.certification._fresh import reproduce_command, run_fresh
from panicquota.cli import main
from panicquota.errors import InvalidArgumentError


class Spoiled:
    """The default policy, with its metadata replaced by a test's function."""

    def __init__(self, spoil: Any) -> None:
        self.inner = AdaptivePanicQuota()
        self.spoil = spoil

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Decide, then spoil."""
        ttl, mode, meta = self.inner.calculate_ttl_strategy(normal_ttl, duration, context)
        return self.spoil(ttl, mode, dict(meta))


def _with(**items: Any) -> Any:
    def spoil(ttl: Any, mode: Any, meta: dict[str, Any]) -> Any:
        return ttl, mode, {**meta, **items}

    return spoil


def _raises(ttl: Any, mode: Any, meta: Mapping[str, Any]) -> Any:
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param(
            lambda ttl, mode, meta: (ttl, mode, list(meta)),
            "calculate_ttl_strategy(60, None, None) returned metadata ['tier', ",
            id="metadata-not-a-mapping",
        ),
        pytest.param(
            _with(tier="0"),
            "calculate_ttl_strategy(60, None, None): meta['tier'] is '0'; it must be int",
            id="tier-not-an-int",
        ),
        pytest.param(
            _with(stakes="huge"),
            "calculate_ttl_strategy(60, None, None): meta['stakes'] is 'huge'; it must be one of "
            "['high_stakes', 'low_stakes', 'medium_stakes']",
            id="unknown-stakes",
        ),
        pytest.param(
            _with(ttl=1),
            "calculate_ttl_strategy(60, None, None): meta['ttl'] is 1 but the TTL is 60",
            id="ttl-mismatch",
        ),
        pytest.param(
            _with(mode="CALM"),
            "calculate_ttl_strategy(60, None, None): tier 0 with mode <PanicMode.NORMAL: "
            "'NORMAL'> (meta['mode'] 'CALM'); the modes of tiers 0-4 are ['NORMAL', ",
            id="mode-mismatch",
        ),
        pytest.param(
            _with(thresholds="soon"),
            "context None: meta['thresholds'] is 'soon'; it must be Thresholds, a (tier2, tier3, "
            "tier4) sequence or a mapping with those keys",
            id="thresholds-unreadable",
        ),
        pytest.param(
            _raises,
            "calculate_ttl_strategy(60, None, None) raised RuntimeError: boom",
            id="raises",
        ),
        pytest.param(
            lambda ttl, mode, meta: (ttl, mode, {**meta, "panic_duration_minutes": 1.0}),
            "meta['panic_duration_minutes'] is 1.0 for 0 minutes (None); it must be rounded to "
            "0.1 (a multiple of 0.1 within 0.05, such as 0)",
            id="rounding",
        ),
    ],
)
def test_contract_clauses(spoil: Any, message: str) -> None:
    """Each broken clause of the contract is reported in one sentence."""
    outcome = check_contract(Spoiled(spoil))
    assert not outcome.passed
    assert message in outcome.message


def test_reproduce_command_for_a_bound_method_replays_the_call() -> None:
    """A call that is neither a target nor a plain function reproduces through a replay."""
    quota = AdaptivePanicQuota()
    command = reproduce_command(quota.calculate_ttl_strategy, ((60, 35.0, "Ligue 1"), {}), 3)
    assert command.startswith("PYTHONHASHSEED=3 ")
    assert " -m panicquota.certification._fresh --replay " in command
    done = subprocess.run(command, shell=True, capture_output=True, text=True, check=True)
    assert done.stdout.startswith("(5, <PanicMode.PANIC_PARTIAL: 'PANIC_PARTIAL'>, ")


def test_a_crashing_fresh_interpreter_is_reported() -> None:
    """A child that dies is an error quoting its exit code."""
    with pytest.raises(RuntimeError) as raised:
        run_fresh(os._exit, [((3,), {})], seeds=(5,))
    assert str(raised.value).startswith(
        "the fresh interpreter with PYTHONHASHSEED=5 failed (exit code 3): "
    )


def test_errors_are_answers_in_fresh_interpreters() -> None:
    """An exception in the child comes back as a comparable answer, not a crash."""
    (run,) = run_fresh(int, [(("x",), {})], seeds=(0,))
    assert run.results == [("error", "ValueError", "invalid literal for int() with base 10: 'x'")]


class Unpicklable:
    """Holds a lock, so it cannot be pickled: snapshots walk its attributes instead."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, int] = {}

    def calculate_ttl_strategy(self, normal_ttl: float, duration: Any, context: Any) -> float:
        """Remember the context."""
        self.seen[str(context)] = 1
        return normal_ttl


def test_purity_of_an_unpicklable_instance() -> None:
    """An instance that cannot be pickled is compared attribute by attribute."""
    outcome = check_pure(Unpicklable().calculate_ttl_strategy, [((60, 1.0, "x"), {})], repeats=1)
    assert not outcome.passed
    assert "changed its instance Unpicklable (.seen['x'] was added (1))" in outcome.message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fast", "argument --p99-ms: must be a number of milliseconds, got 'fast'"),
        ("0", "argument --p99-ms: must be a finite number > 0, got '0'"),
    ],
)
def test_cli_certify_budget_errors(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A latency budget that is not a positive number is a usage error."""
    with pytest.raises(SystemExit) as raised:
        main(["certify", "--target", "panicquota:AdaptivePanicQuota", "--p99-ms", value])
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_plugin_package_exports_lazily() -> None:
    """The plugin package lists its exports and refuses unknown names."""
    assert "assert_pure" in dir(pytest_panicquota)
    with pytest.raises(AttributeError, match=r"^module 'pytest_panicquota' has no attribute 'x'$"):
        pytest_panicquota.x  # noqa: B018


def test_a_target_module_that_fails_to_import(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module whose own code raises is named with its error, in one line."""
    (tmp_path / "boom_policy.py").write_text("raise RuntimeError('PANIC_CONFIG is not set')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidArgumentError) as raised:
        load_target("boom_policy:policy")
    assert str(raised.value) == (
        "importing the target's module 'boom_policy' raised RuntimeError: PANIC_CONFIG is not set"
    )


def test_module_root_names_the_directory_a_module_imports_from() -> None:
    """The reproduce command's PYTHONPATH: a package's parent, none for installed modules."""
    from panicquota.certification._fresh import _module_root

    source = str(Path(panicquota_file()).resolve().parent.parent)
    assert _module_root("panicquota") == source
    assert _module_root("panicquota.certification._fresh") == source
    assert _module_root("pytest") is None  # installed: any interpreter finds it
    assert _module_root("no_such_module_here") is None


def panicquota_file() -> str:
    """Return the file of the panicquota package."""
    import panicquota

    return panicquota.__file__ or ""
