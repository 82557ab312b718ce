"""`import panicquota` needs only the standard library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = r"""
import json, sys
before = set(sys.modules)
import panicquota
from panicquota import AdaptivePanicQuota
AdaptivePanicQuota().calculate_ttl_strategy(60, 35.0, {"league": "Ligue 1"})
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_import_loads_only_the_standard_library() -> None:
    """Importing and using the policy loads no third-party module."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    top_level = {name.partition(".")[0] for name in loaded}
    third_party = sorted(top_level - set(sys.stdlib_module_names) - {"panicquota"})
    assert third_party == []
    assert "panicquota.breaker" not in loaded


def test_breakers_are_exported_lazily() -> None:
    """The breakers are reachable from the package but not imported until asked for."""
    import panicquota

    assert "VIXCircuitBreaker" in panicquota.__all__
    assert "VIXCircuitBreaker" in dir(panicquota)


def test_unknown_attribute() -> None:
    """An unknown attribute raises the usual AttributeError."""
    import panicquota

    with pytest.raises(AttributeError, match=r"^module 'panicquota' has no attribute 'Nope'$"):
        panicquota.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_building_the_cli_imports_no_command_s_machinery() -> None:
    """Every ``panicquota`` command builds the whole parser: it must not load the simulator."""
    probe = (
        "import json, sys\n"
        "before = set(sys.modules)\n"  # coverage, when measuring, loads multiprocessing
        "from panicquota.cli import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout))
    # The help reads the simulator's limits from the (lazy) package, nothing more.
    simulation = {name for name in loaded if name.startswith("panicquota.simulation")}
    assert simulation <= {"panicquota.simulation", "panicquota.simulation._limits"}
    assert not loaded & {"panicquota.simulation._engine", "panicquota.breaker", "multiprocessing"}


def test_simulation_imports_its_modules_on_first_use() -> None:
    """A name of panicquota.simulation loads only the module that defines it."""
    probe = (
        "import json, sys\n"
        "from panicquota import simulation\n"
        "before = set(sys.modules)\n"
        "from panicquota.simulation import ScenarioError\n"
        # Loaded by the look-up, not before it (coverage imports multiprocessing first).
        "print(json.dumps([name in set(sys.modules) - before for name in ("
        "'panicquota.simulation._scenario', 'panicquota.simulation._engine', "
        "'panicquota.simulation._real', 'multiprocessing')]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [True, False, False, False]


def test_simulation_unknown_attribute() -> None:
    """An unknown name of panicquota.simulation is an AttributeError; dir() shows __all__."""
    from panicquota import simulation

    with pytest.raises(
        AttributeError, match=r"^module 'panicquota.simulation' has no attribute 'Nope'$"
    ):
        simulation.Nope  # type: ignore[attr-defined]  # noqa: B018
    assert set(simulation.__all__) <= set(dir(simulation))
    assert simulation.MAX_WORKERS == 64
