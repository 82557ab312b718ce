"""``pytest --panicquota-certify``: one test item per certification criterion."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from panicquota.certification import (
    CertificationReport,
    Criterion,
    CriterionResult,
    Settings,
    load_target,
    run_criterion,
)
from panicquota.errors import PanicquotaError

__all__ = ["CertificationItem", "CertificationSuite", "collect", "missing_criteria", "report_key"]

report_key = pytest.StashKey[CertificationReport]()


def missing_criteria(report: CertificationReport) -> list[str]:
    """Return the names of the criteria that have no row in *report*, in suite order."""
    done = {result.criterion for result in report.results}
    return [criterion.value for criterion in Criterion if criterion not in done]


class CertificationFailure(Exception):
    """A criterion failed; its message is the report sentence."""


class CertificationItem(pytest.Item):
    """One criterion run against the certified policy."""

    def __init__(self, *, criterion: Criterion, policy: Any, spec: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.criterion = criterion
        self.policy = policy
        self.spec = spec

    def runtest(self) -> None:
        """Run the criterion, record its row, fail the item if it failed."""
        p99_ms = self.config.getoption("panicquota_p99_ms")
        settings = Settings() if p99_ms is None else Settings(p99_ms=p99_ms)
        import time

        started = time.perf_counter()
        outcome = run_criterion(self.criterion, self.policy, self.spec, settings)
        row = CriterionResult(self.criterion, outcome, time.perf_counter() - started)
        self.config.stash[report_key].results.append(row)
        if not outcome.passed:
            raise CertificationFailure(outcome.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """Show the criterion's one sentence rather than a traceback."""
        if isinstance(excinfo.value, CertificationFailure):
            return f"{self.criterion.value}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, None, str]:
        """Name the item after the target and the criterion."""
        return self.spec, None, f"{self.spec} [{self.criterion.value}]"


def collect(session: pytest.Session) -> list[pytest.Item]:
    """Return the certification items of the target given on the command line.

    Raises:
        pytest.UsageError: no target, or one that does not load.
    """
    config = session.config
    spec = config.getoption("panicquota_target")
    if not spec:
        raise pytest.UsageError(
            "--panicquota-certify needs --panicquota-target module:attr (a policy object, "
            "a class or a zero-argument factory)"
        )
    # As with ``python -m pytest``, a target in the project's root imports
    # even when pytest runs as a console script.
    root = str(config.rootpath)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        policy = load_target(spec)
    except PanicquotaError as error:
        raise pytest.UsageError(f"--panicquota-target: {error}") from None
    config.stash[report_key] = CertificationReport(spec)
    suite = CertificationSuite.from_parent(session, name=spec, nodeid=f"certify[{spec}]")
    items: list[pytest.Item] = [
        CertificationItem.from_parent(
            suite, name=criterion.value, criterion=criterion, policy=policy, spec=spec
        )
        for criterion in Criterion
    ]
    # What the terminal counts as "collected N items".
    session.config.hook.pytest_collectreport(
        report=pytest.CollectReport(suite.nodeid, "passed", None, list[Any](items))
    )
    return items


class CertificationSuite(pytest.Collector):
    """The certification of one target: the parent of its criteria."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        """Return nothing: :func:`collect` builds the items with the loaded policy."""
        return []
