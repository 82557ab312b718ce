"""The terminal report: a progress bar while running, then the summary tables (rich)."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Final

from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation._report import (
    Disagreement,
    DisagreementKind,
    SimulationMode,
    SimulationReport,
)
from panicquota.tiers import MODE_BY_TIER, PanicMode

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["format_duration", "print_report", "progress_bar"]

_PIPE_WIDTH: Final = 110

_SHORT_MODE: Final = {
    PanicMode.NORMAL: "normal",
    PanicMode.PANIC_FULL: "full",
    PanicMode.PANIC_PARTIAL: "partial",
    PanicMode.DEGRADED: "degraded",
    PanicMode.CHRONIC: "chronic",
}


def format_duration(seconds: float) -> str:
    """Return *seconds* as ``"8h 30m"``, ``"45m 00s"`` or ``"59s"``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@contextlib.contextmanager
def progress_bar(
    description: str, *, enabled: bool, file: IO[str] | None = None
) -> Iterator[Callable[[int, int], object]]:
    """Yield a ``progress(done, total)`` callback that drives a transient rich bar.

    When *enabled* is false (not a terminal, or ``--quiet``) the callback does nothing.
    """
    if not enabled:
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=Console(file=file, stderr=file is None),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _print_faithfulness(console: Console, report: SimulationReport) -> None:
    """Print how closely a real run kept to the scenario's timeline, and any warning."""
    checked = report.worker_checked_shares or ()
    console.print(
        f"timeline at {report.compression or 0:,.0f} simulated seconds per wall second: "
        f"readings fed up to {report.feeder_max_lag_seconds or 0:,.1f} s late, trips and "
        f"resets up to {report.feeder_change_lag_seconds or 0:,.1f} s late; the workers "
        f"checked {min(checked, default=0):.0%} to {max(checked, default=0):.0%} of the "
        "simulated seconds"
    )
    for warning in report.warnings:
        console.print(f"[bold yellow]warning:[/bold yellow] {warning}")


def _agreement_line(report: SimulationReport) -> str:
    """Return the agreement as a count of disagreements (a rounded share would hide one)."""
    points = report.decision_points
    wrong = points - report.agreeing_points
    compared = report.compared_points
    checked = (
        ""
        if compared is None
        else f", {compared:,} of them compared between workers, all held against the policy"
    )
    if not wrong:
        excused = report.excused_points
        return (
            f"worker agreement: [green]100%[/green] (all {points:,} decision points agree{checked}"
            + (
                f"; {excused:,} of them from different starts read within the staleness bound of "
                "a trip or reset)"
                if excused
                else ")"
            )
        )
    # Rounded down, so that one disagreement among millions never reads 100%.
    share = math.floor(report.worker_agreement * 1_000_000) / 10_000
    noun = "disagreement" if wrong == 1 else "disagreements"
    return (
        f"worker agreement: [bold red]{wrong:,} {noun}[/bold red] in {points:,} decision points "
        f"({share:.4f}% agree{checked})"
    )


def _disagreement_line(disagreement: Disagreement) -> str:
    """Return one disagreement: who decided what, from which start (real mode)."""
    where = f"at {format_duration(disagreement.second)}, {disagreement.context}: "
    workers, starts = disagreement.workers, disagreement.starts
    if workers is None or starts is None:
        decided = ", ".join(
            f"{mode.value} ttl {ttl:g}" for ttl, mode, _tier in disagreement.decisions
        )
        return f"{where}the workers decided {decided}"
    decided = ", ".join(
        f"worker {worker} {mode.value} ttl {ttl:g} from "
        + ("no panic" if start is None else f"a start at {start:g} s")
        for worker, start, (ttl, mode, _tier) in zip(
            workers, starts, disagreement.decisions, strict=True
        )
    )
    if disagreement.kind is DisagreementKind.POLICY:
        return f"{where}not what the policy gives: {decided}"
    return f"{where}{decided}"


def _ignore(done: int, total: int) -> None:
    """Do nothing: the progress callback when no bar is shown."""


def print_report(report: SimulationReport, *, file: IO[str] | None = None) -> None:
    """Print the summary tables of *report* to *file* (default: standard output)."""
    from rich.console import Console

    stream = sys.stdout if file is None else file
    # Piped into a file or a CI log there is no terminal width; rich's 80
    # columns would fold the tables. Free-text lines (alerts) never fold.
    width = None if stream.isatty() else _PIPE_WIDTH
    console = Console(file=stream, highlight=False, soft_wrap=True, width=width)
    _print(console, report)


def _print(console: Console, report: SimulationReport) -> None:
    from rich.table import Table

    scenario = report.scenario
    title = (
        f"{scenario.name}: {format_duration(scenario.duration_seconds)} simulated, "
        f"{scenario.workers} workers x {scenario.rps:,} rps, seed {scenario.seed} "
        f"({report.mode.value})"
    )
    latency = scenario.upstream_latency_ms
    summary = Table(title=f"{title}\nupstream: {latency:g} ms a fetch", title_justify="left")
    summary.add_column("")
    summary.add_column("always fresh", justify="right")
    summary.add_column("adaptive policy", justify="right")
    summary.add_column("policy + PanicCache", justify="right")
    requests = report.simulated_requests
    summary.add_row("requests", f"{requests:,}", f"{requests:,}", f"{requests:,}")
    summary.add_row(
        "upstream requests",
        f"{report.baseline_upstream_requests:,}",
        f"{report.upstream_requests:,}",
        f"{report.cached_upstream_requests:,}",
    )
    summary.add_row("reduction", "", f"{report.reduction:.1%}", f"{report.cached_reduction:.1%}")
    capacity = scenario.upstream_capacity
    summary.add_row(
        "peak upstream load" + ("" if capacity is None else f" (capacity {capacity:,g}/s)"),
        f"{report.peak_baseline_rps:,}/s",
        f"{report.peak_upstream_rps:,}/s",
        f"{report.peak_cached_rps:,}/s",
    )
    if capacity is not None:
        summary.add_row(
            "time over capacity",
            format_duration(report.baseline_seconds_over_capacity),
            format_duration(report.seconds_over_capacity),
            format_duration(report.cached_seconds_over_capacity),
        )
    summary.add_row(
        "staleness served: max / mean",
        "",
        "",
        f"{report.max_staleness_seconds:.1f} s / {report.mean_staleness_seconds:.2f} s",
    )
    summary.add_row(
        "  during the panic",
        "0.0 s / 0.00 s",
        "",
        f"{report.panic_max_staleness_seconds:.1f} s / {report.panic_mean_staleness_seconds:.2f} s",
    )
    console.print(summary)
    if capacity is not None and report.peak_upstream_rps == report.peak_baseline_rps:
        console.print(
            f"without coalescing both peak at {report.peak_upstream_rps:,}/s: a panic's first "
            "seconds send every request upstream either way; the time over capacity is what "
            f"tells them apart ({format_duration(report.seconds_over_capacity)} against "
            f"{format_duration(report.baseline_seconds_over_capacity)})"
        )
    if report.peak_cached_rps < report.peak_upstream_rps:
        console.print(
            f"PanicCache shares each {latency:g} ms fetch among the misses that arrive while it "
            f"is in flight: the peak drops from {report.peak_upstream_rps:,}/s to "
            f"{report.peak_cached_rps:,}/s (a coalesced answer is at most one fetch old)"
        )

    tiers = Table(title="time in each tier", title_justify="left")
    tiers.add_column("context", no_wrap=True)
    tiers.add_column("stakes")
    tiers.add_column("share", justify="right")
    for tier, mode in enumerate(MODE_BY_TIER):
        tiers.add_column(f"{tier} {_SHORT_MODE[mode]}", justify="right")
    quota = AdaptivePanicQuota(**scenario.policy)
    rates = scenario.rates()
    for share, rate in zip(scenario.contexts, rates, strict=True):
        seconds = report.tier_seconds[share.label]
        tiers.add_row(
            share.label,
            quota.classify(share.context).name.lower(),
            f"{rate / scenario.rps:.0%}",
            *(format_duration(seconds[tier]) if seconds[tier] else "-" for tier in range(5)),
        )
    console.print(tiers)

    console.print(f"alerts: {len(report.alerts)}")
    for alert in report.alerts[:6]:
        console.print(f"  at {format_duration(alert.second)}: {alert.context}: {alert.message}")
    if len(report.alerts) > 6:
        console.print(f"  ... and {len(report.alerts) - 6} more (see --json)")
    console.print(f"tier transitions delivered: {report.transitions}")
    console.print(_agreement_line(report))
    for disagreement in report.disagreements[:3]:
        console.print(f"  [red]{_disagreement_line(disagreement)}[/red]")
    if report.mode is SimulationMode.REAL:
        console.print(
            f"wall time {report.wall_seconds:.2f} s: {report.decisions:,} get_ttl decisions, "
            f"{report.decisions_per_wall_second:,.0f}/s across {scenario.workers} processes "
            f"against {report.redis_url} (keys {report.key_prefix}*"
            + (", deleted)" if report.keys_deleted else ")")
        )
        _print_faithfulness(console, report)
    else:
        console.print(
            f"wall time {report.wall_seconds:.2f} s: "
            f"{report.requests_per_wall_second:,.0f} simulated requests/s, "
            f"{report.decisions:,} breaker decisions"
        )
