"""Certify a TTL policy: the contract suite behind ``panicquota certify`` and the pytest plugin.

Standard library only (rich is imported by the CLI to draw the table); never
imports pytest. The checks here return an :class:`Outcome`; the plugin's
``assert_*`` functions turn them into test failures.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from panicquota.certification._bad_input import check_bad_input
from panicquota.certification._contract import check_contract
from panicquota.certification._determinism import DEFAULT_SEEDS, check_deterministic
from panicquota.certification._engine import (
    CertificationReport,
    Criterion,
    CriterionResult,
    Settings,
    certify,
    run_criterion,
)
from panicquota.certification._latency import check_latency
from panicquota.certification._leak import check_no_leak
from panicquota.certification._outcome import Outcome
from panicquota.certification._purity import check_pure
from panicquota.certification._stateless import check_stateless
from panicquota.certification._target import load_target

__all__ = [
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

#: Names exported before 0.2 that are implementation details: still importable, with a warning.
_DEPRECATED = {
    "Call": "panicquota._shared.calls",
    "class_state": "panicquota._shared.state",
    "fresh_calls": "panicquota.certification._contexts",
    "plain": "panicquota._shared.state",
    "probe_calls": "panicquota.certification._contexts",
    "reproduce_command": "panicquota.certification._fresh",
    "run_fresh": "panicquota.certification._fresh",
    "sample_contexts": "panicquota.certification._contexts",
    "snapshot": "panicquota._shared.state",
}


def __getattr__(name: str) -> Any:
    home = _DEPRECATED.get(name)
    if home is None:
        raise AttributeError(f"module 'panicquota.certification' has no attribute {name!r}")
    warnings.warn(
        f"panicquota.certification.{name} is an implementation detail, no longer exported; "
        "it will be removed in a future release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
