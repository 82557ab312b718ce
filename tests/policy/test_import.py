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
    assert not loaded & {"panicquota.simulation", "panicquota.breaker", "multiprocessing"}
