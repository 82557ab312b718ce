"""The certification suite: every criterion run against one policy, and its report."""

from __future__ import annotations

import json
import os
import pickle
import platform
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain, cycle
from pathlib import Path
from typing import Any

from panicquota._shared.calls import Call
from panicquota.certification._bad_input import check_bad_input
from panicquota.certification._contexts import fresh_calls, probe_calls
from panicquota.certification._contract import check_contract
from panicquota.certification._determinism import DEFAULT_SEEDS, check_deterministic
from panicquota.certification._latency import check_latency
from panicquota.certification._leak import check_no_leak
from panicquota.certification._outcome import Outcome
from panicquota.certification._purity import check_pure
from panicquota.certification._stateless import check_stateless
from panicquota.certification._target import load_target

__all__ = ["CertificationReport", "Criterion", "CriterionResult", "Settings", "certify"]


class Criterion(StrEnum):
    """The criteria a policy is certified on, in the order they run."""

    CONTRACT = "contract"
    DETERMINISM = "determinism"
    PURITY = "purity"
    STATELESSNESS = "statelessness"
    BAD_INPUT = "bad_input"
    LATENCY = "latency"
    LEAK = "leak"


@dataclass(frozen=True)
class Settings:
    """The budgets and sample sizes of a certification run.

    Attributes:
        p99_ms: the latency budget, p99 of one decision in milliseconds.
        seeds: the ``PYTHONHASHSEED`` of each fresh interpreter.
        latency_samples: timed calls per latency round.
        leak_warmup: calls before the leak check measures: caches fill here.
        leak_batch: calls per measured leak batch (five batches). Every call
            has new arguments, so a cache keyed on them must be bounded: one
            that evicts must be full within the warm-up, one that empties
            itself when full must do so at least twice over the five batches
            (with the defaults: every 10,000 calls or sooner; the default
            policy's memo empties every 8,192 contexts), or its filling reads
            as a leak.
        history_calls: the most calls with other arguments the statelessness
            criterion makes before asking its questions again.
        history_seconds: when it stops making them, for slow policies.
    """

    p99_ms: float = 1.0
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    latency_samples: int = 2000
    leak_warmup: int = 10_000
    leak_batch: int = 4000
    history_calls: int = 100_000
    history_seconds: float = 1.0


class _TargetMethod:
    """``load_target(spec).calculate_ttl_strategy``, picklable by its spec."""

    def __init__(self, target_spec: str, policy: Any = None) -> None:
        self.target_spec = target_spec
        self.__qualname__ = "calculate_ttl_strategy"  # how the checks' messages name it
        self._policy = policy

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._policy is None:
            self._policy = load_target(self.target_spec)
        return self._policy.calculate_ttl_strategy(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_TargetMethod, (self.target_spec,))


def run_criterion(
    criterion: Criterion, policy: Any, spec: str | None, settings: Settings
) -> Outcome:
    """Run one criterion against a fresh copy of *policy* (or of what *spec* loads).

    Each criterion gets its own copy, so no verdict depends on which criteria
    ran before. Fresh interpreters load the policy from *spec* if given. A
    check that cannot run (a child interpreter crashed, the policy cannot be
    pickled) is a failed criterion, not a crashed run.
    """
    try:
        return _run(criterion, fresh_copy(policy, spec), spec, settings)
    except Exception as error:  # reported in the row, whatever it is
        return Outcome(False, f"the check itself failed: {type(error).__name__}: {error}")


def fresh_copy(policy: Any, spec: str | None) -> Any:
    """Return a copy of the policy nobody has called yet.

    A spec is loaded again (a class or a factory builds a new instance) and
    the result copied through a pickle round trip; a policy that does not
    pickle is returned as it is.
    """
    original = load_target(spec) if spec is not None else policy
    try:
        return pickle.loads(pickle.dumps(original, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # any object may refuse pickling in its own way
        return original


def _run(criterion: Criterion, policy: Any, spec: str | None, settings: Settings) -> Outcome:
    decide = policy.calculate_ttl_strategy
    if criterion is Criterion.CONTRACT:
        return check_contract(policy)
    if criterion is Criterion.BAD_INPUT:
        return check_bad_input(policy)
    if criterion is Criterion.LATENCY:
        return check_latency(
            decide, fresh_calls(policy), p99_ms=settings.p99_ms, samples=settings.latency_samples
        )
    if criterion is Criterion.LEAK:
        return check_no_leak(
            decide, fresh_calls(policy), warmup=settings.leak_warmup, batch=settings.leak_batch
        )
    calls = probe_calls(policy)
    if criterion is Criterion.DETERMINISM:
        fn = _TargetMethod(spec, policy) if spec is not None else decide
        return check_deterministic(fn, calls, repeats=2, seeds=settings.seeds)
    if criterion is Criterion.PURITY:
        return check_pure(decide, calls, instance=policy)
    return check_stateless(
        policy,
        calls,
        history=_interleaved(fresh_calls(policy), calls),
        max_calls=settings.history_calls,
        max_seconds=settings.history_seconds,
    )


def _interleaved(fresh: Iterator[Call], calls: Sequence[Call]) -> Iterator[Call]:
    """Alternate never-seen calls with the probe calls: cache misses and hits in turn."""
    return chain.from_iterable(zip(fresh, cycle(calls)))


@dataclass(frozen=True)
class CriterionResult:
    """One row of the report."""

    criterion: Criterion
    outcome: Outcome
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data."""
        return {
            "criterion": self.criterion.value,
            "passed": self.outcome.passed,
            "detail": self.outcome.message,
            "figures": dict(self.outcome.figures),
            "seconds": round(self.seconds, 3),
        }


def environment() -> dict[str, Any]:
    """Return the versions and machine a report was produced with."""
    from panicquota import __version__

    return {
        "versions": {
            "panicquota": __version__,
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
    }


@dataclass
class CertificationReport:
    """The criterion-by-criterion verdict on one policy."""

    target: str
    results: list[CriterionResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every criterion passed (and at least one ran)."""
        return bool(self.results) and all(r.outcome.passed for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "target": self.target,
            "passed": self.passed,
            "criteria": [result.as_dict() for result in self.results],
            **environment(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write the report to *path* as indented JSON."""
        Path(path).write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")

    def lines(self) -> list[str]:
        """Return the report as plain-text table lines."""
        width = max(len(c.value) for c in Criterion)
        rows = [f"panicquota certification of {self.target}"]
        for result in self.results:
            verdict = "PASS" if result.outcome.passed else "FAIL"
            rows.append(f"  {result.criterion.value:<{width}}  {verdict}  {result.outcome.message}")
        rows.append(f"  {'verdict':<{width}}  {'PASS' if self.passed else 'FAIL'}")
        return rows


def certify(
    target: str | Any,
    *,
    criteria: Iterable[Criterion] = tuple(Criterion),
    settings: Settings | None = None,
    on_result: Callable[[CriterionResult], object] | None = None,
) -> CertificationReport:
    """Run the certification suite against a policy.

    Args:
        target: a ``"module:attr"`` spec (see :func:`load_target`) or a policy
            object (fresh-interpreter determinism then pickles its method).
        criteria: which criteria to run.
        settings: budgets and sample sizes (default :class:`Settings`).
        on_result: called with each row as soon as it is known.

    Raises:
        InvalidArgumentError: the spec names nothing importable.
        InvalidTypeError: the target has no ``calculate_ttl_strategy``.
    """
    settings = settings or Settings()
    spec = target if isinstance(target, str) else None
    policy = load_target(target) if isinstance(target, str) else target
    report = CertificationReport(spec or repr(policy))
    for criterion in criteria:
        started = time.perf_counter()
        outcome = run_criterion(criterion, policy, spec, settings)
        result = CriterionResult(criterion, outcome, time.perf_counter() - started)
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    return report
