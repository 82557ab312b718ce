"""The public API of panicquota.certification and panicquota.simulation."""

from __future__ import annotations

import re

import pytest

import panicquota.certification as certification
import panicquota.simulation as simulation
from panicquota._shared import calls, state
from panicquota.certification import _contexts, _fresh


def test_all_is_the_curated_public_api() -> None:
    """certification.__all__ lists the suite, its checks and its results, nothing internal."""
    assert certification.__all__ == [
        "DEFAULT_SEEDS",
        "CertificationReport",
        "Criterion",
        "CriterionResult",
        "Outcome",
        "Settings",
        "certify",
        "check_bad_input",
        "check_contract",
        "check_deterministic",
        "check_latency",
        "check_no_leak",
        "check_pure",
        "check_stateless",
        "load_target",
        "run_criterion",
    ]
    assert all(hasattr(certification, name) for name in certification.__all__)


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("Call", calls),
        ("class_state", state),
        ("fresh_calls", _contexts),
        ("plain", state),
        ("probe_calls", _contexts),
        ("reproduce_command", _fresh),
        ("run_fresh", _fresh),
        ("sample_contexts", _contexts),
        ("snapshot", state),
    ],
)
def test_former_exports_still_import_with_a_warning(name: str, home: object) -> None:
    """A name dropped from __all__ is still importable, warns, and is the same object."""
    message = (
        f"panicquota.certification.{name} is an implementation detail, no longer exported; "
        "it will be removed in a future release"
    )
    with pytest.warns(DeprecationWarning, match=f"^{re.escape(message)}$"):
        value = getattr(certification, name)
    assert value is getattr(home, name)


def test_unknown_names_raise_attribute_error() -> None:
    """An unknown attribute is an AttributeError naming it, and dir() shows the public names."""
    with pytest.raises(
        AttributeError, match=r"^module 'panicquota.certification' has no attribute 'nope'$"
    ):
        _ = certification.nope
    assert set(certification.__all__) <= set(dir(certification))


def test_simulation_exports_what_the_cli_needs() -> None:
    """RealModeError (raised by simulate_real) and progress_bar are public in simulation."""
    from panicquota.simulation import _real, _render

    assert simulation.RealModeError is _real.RealModeError
    assert simulation.progress_bar is _render.progress_bar
    assert {"RealModeError", "progress_bar"} <= set(simulation.__all__)
