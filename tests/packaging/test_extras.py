"""The one-line hints naming the extra to install, checked in this environment."""

from __future__ import annotations

import sys

import pytest

from panicquota._shared import extras
from panicquota.cli import main
from panicquota.errors import MissingExtraError, PanicquotaError


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in [m for m in sys.modules if m.partition(".")[0] in modules]:
        monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_require_names_the_missing_modules_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """require() lists every missing module, once, and the pip install that brings them."""
    _hide(monkeypatch, "fakeredis", "lupa")
    with pytest.raises(MissingExtraError) as raised:
        extras.require("the simulator", "cli", "fakeredis", "lupa", "json")
    assert str(raised.value) == (
        "the simulator needs fakeredis and lupa, which are not installed: "
        "pip install 'panicquota[cli]'"
    )
    assert isinstance(raised.value, PanicquotaError)
    assert isinstance(raised.value, ImportError)
    extras.require("the simulator", "cli", "json")


def test_hint_for_a_failed_import() -> None:
    """A failed import of an optional module maps to its extra; any other module to None."""
    error = ModuleNotFoundError("No module named 'rich.console'", name="rich.console")
    assert extras.missing_extra_hint("this command", error) == (
        "this command needs rich, which is not installed: pip install 'panicquota[cli]'"
    )
    assert extras.missing_extra_hint("x", ModuleNotFoundError("no", name="numpy")) is None
    assert extras.missing_extra_hint("x", ModuleNotFoundError("no")) is None


def test_cli_names_the_extra_when_rich_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command whose table needs rich prints one line naming `panicquota[cli]`, exit 2."""
    _hide(monkeypatch, "rich")
    assert main(["simulate", "--scenario", "persistent"]) == 2
    assert capsys.readouterr().err == (
        "panicquota simulate: error: this command needs rich, which is not installed: "
        "pip install 'panicquota[cli]'\n"
    )


def test_cli_reraises_other_missing_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing module that no extra installs is a bug, raised as it is."""

    def broken(args: object) -> int:
        import panicquota_no_such_module  # type: ignore[import-not-found]  # noqa: F401

        return 0

    monkeypatch.setattr("panicquota.cli._policy._decide", broken)
    with pytest.raises(ModuleNotFoundError, match="panicquota_no_such_module"):
        main(["decide", "--duration", "1"])


def test_plugin_fake_redis_names_the_testing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """panic_redis's default fake server, without fakeredis, names `panicquota[testing]`."""
    from pytest_panicquota._fixtures import RedisHandle

    _hide(monkeypatch, "fakeredis")
    with pytest.raises(MissingExtraError, match=r"^panic_redis's default fake Redis needs "):
        RedisHandle(None, "pq-extras:")


def test_strategies_name_the_testing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the strategies without Hypothesis names `panicquota[testing]` in one line."""
    import importlib

    monkeypatch.delitem(sys.modules, "pytest_panicquota.strategies", raising=False)
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(MissingExtraError) as raised:
        importlib.import_module("pytest_panicquota.strategies")
    assert str(raised.value) == (
        "pytest_panicquota.strategies needs hypothesis, which is not installed: "
        "pip install 'panicquota[testing]'"
    )
