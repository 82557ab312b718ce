"""What ``--panicquota-certify`` changes in a run: options, xdist, collection, header, summary.

The plugin's hooks call these. Light at import (pytest only): the certification
engine is imported by :mod:`pytest_panicquota._certify`, only in certification mode.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = [
    "CERTIFY_ONLY",
    "collect_criteria",
    "configure",
    "report_header",
    "sessionfinish",
    "terminal_summary",
]

CERTIFY_ONLY = (
    ("panicquota_target", "--panicquota-target"),
    ("panicquota_report", "--panicquota-report"),
    ("panicquota_p99_ms", "--panicquota-p99-ms"),
)

xdist_workers_key = pytest.StashKey[int]()


def configure(config: pytest.Config) -> None:
    """Refuse certification options without certification; run the criteria in this process.

    With ``--panicquota-certify`` under pytest-xdist the criteria run in this
    process (xdist's own ``pytest_configure`` runs last and then starts no
    workers): split across workers, each would hold part of the report, and
    the latency criterion would be timed against its sibling workers.
    """
    if not config.getoption("panicquota_certify"):
        given = [flag for dest, flag in CERTIFY_ONLY if config.getoption(dest) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise pytest.UsageError(
                f"{' and '.join(given)} {verb} only with --panicquota-certify; add it to "
                "certify a target, or drop them to run the tests"
            )
        return
    workers = getattr(config.option, "tx", None)
    if getattr(config.option, "dist", "no") != "no" and workers:
        config.stash[xdist_workers_key] = len(workers)
        config.option.dist = "no"
        config.option.tx = []


def report_header(config: pytest.Config) -> list[str]:
    """Say, in certification mode, what runs instead of the tests."""
    if not config.getoption("panicquota_certify"):
        return []
    line = (
        f"panicquota: certifying {config.getoption('panicquota_target')}: the normal tests "
        "are not collected"
    )
    workers = config.stash.get(xdist_workers_key, None)
    if workers is not None:
        line += f"; the criteria run one by one in this process (not on {workers} xdist workers)"
    return [line]


def collect_criteria(session: pytest.Session) -> bool | None:
    """Collect the certification criteria instead of tests with ``--panicquota-certify``."""
    if not session.config.getoption("panicquota_certify"):
        return None
    from pytest_panicquota._certify import collect

    items = collect(session)
    hook = session.config.hook
    hook.pytest_collection_modifyitems(session=session, config=session.config, items=items)
    session.items = items
    session.testscollected = len(items)
    hook.pytest_collection_finish(session=session)
    return True


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the certification table and write its JSON report."""
    if not config.getoption("panicquota_certify"):
        return
    from panicquota.certification import Criterion
    from pytest_panicquota._certify import missing_criteria, report_key

    report = config.stash.get(report_key, None)
    if report is None:
        return
    terminalreporter.section("panicquota certification")
    lines = report.lines()
    missing = missing_criteria(report)
    if missing:
        # The table's verdict covers the rows shown: not a pass of the policy.
        verdict = lines[-1].rstrip().removesuffix("PASS").removesuffix("FAIL")
        lines[-1] = f"{verdict}INCOMPLETE: {len(missing)} of {len(Criterion)} criteria did not run"
    for line in lines:
        terminalreporter.write_line(line)
    path = config.getoption("panicquota_report")
    if not path:
        return
    if missing:
        terminalreporter.write_line(
            f"report NOT written to {path}: {len(missing)} of {len(Criterion)} criteria did "
            f"not run ({', '.join(missing)}); a report covers every criterion or none "
            "(drop -k, -x, --lf or --deselect)"
        )
        return
    report.write_json(path)
    terminalreporter.write_line(f"report written to {path}")


def sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a certification run that was asked for a report it could not write in full."""
    config = session.config
    if not config.getoption("panicquota_certify") or not config.getoption("panicquota_report"):
        return
    from pytest_panicquota._certify import missing_criteria, report_key

    report = config.stash.get(report_key, None)
    if report is not None and missing_criteria(report) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
