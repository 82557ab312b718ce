"""Certify a TTL policy: the contract suite behind ``panicquota certify`` and the pytest plugin.

Standard library only (rich is imported by the CLI to draw the table); never
imports pytest. The checks here return an :class:`Outcome`; the plugin's
``assert_*`` functions turn them into test failures.
"""

from __future__ import annotations

from panicquota.certification._bad_input import check_bad_input
from panicquota.certification._checks import (
    DEFAULT_SEEDS,
    check_deterministic,
    check_latency,
    check_no_leak,
    check_pure,
)
from panicquota.certification._contexts import fresh_calls, probe_calls, sample_contexts
from panicquota.certification._contract import check_contract
from panicquota.certification._engine import (
    CertificationReport,
    Criterion,
    CriterionResult,
    Settings,
    certify,
    run_criterion,
)
from panicquota.certification._fresh import Call, reproduce_command, run_fresh
from panicquota.certification._outcome import Outcome
from panicquota.certification._state import class_state, plain, snapshot
from panicquota.certification._stateless import check_stateless
from panicquota.certification._target import load_target

__all__ = [
    "DEFAULT_SEEDS",
    "Call",
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
    "class_state",
    "fresh_calls",
    "load_target",
    "plain",
    "probe_calls",
    "reproduce_command",
    "run_criterion",
    "run_fresh",
    "sample_contexts",
    "snapshot",
]
