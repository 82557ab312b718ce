"""The PNG plot of a report (needs the optional ``plot`` extra: matplotlib)."""

from __future__ import annotations

from os import PathLike
from typing import Any

from panicquota.errors import PanicquotaError
from panicquota.simulation._report import SimulationReport
from panicquota.tiers import MODE_BY_TIER

__all__ = ["PlotUnavailableError", "plot_report"]


class PlotUnavailableError(PanicquotaError, ImportError):
    """matplotlib is not installed."""


_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
#: Per context: a dash pattern, so lines that coincide stay told apart...
_DASHES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)))
#: ...and a width, widest first: a later (narrower) line drawn over an earlier
#: one leaves the earlier one showing on both sides.
_WIDTHS = (3.6, 2.4, 1.5, 1.0, 0.8, 0.7)


def plot_report(report: SimulationReport, path: str | PathLike[str]) -> None:
    """Draw tier, TTL and upstream load over time into the PNG file *path*.

    Raises:
        PlotUnavailableError: matplotlib is missing (install ``panicquota[plot]``).
    """
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailableError(
            "--plot needs matplotlib: install it with `pip install 'panicquota[plot]'`"
        ) from None
    matplotlib.use("Agg")  # no display needed, and no GUI backend in worker threads
    from matplotlib import pyplot

    scenario = report.scenario
    series = report.series
    hours = scenario.duration_seconds > 3 * 3600
    scale, unit = (3600.0, "hours") if hours else (60.0, "minutes")
    seconds = [s / scale for s in range(scenario.duration_seconds)]
    figure, axes = pyplot.subplots(
        4, 1, sharex=True, figsize=(11, 9), height_ratios=(1.2, 1.3, 1.3, 2), layout="constrained"
    )
    vix_axis, tier_axis, ttl_axis, load_axis = axes
    figure.suptitle(
        f"panicquota simulate: {scenario.name} ({scenario.workers} workers x "
        f"{scenario.rps:,} rps, seed {scenario.seed}, {report.mode.value})\n"
        f"upstream {report.upstream_requests:,}, with PanicCache "
        f"{report.cached_upstream_requests:,}, vs always-fresh "
        f"{report.baseline_upstream_requests:,} ({report.reduction:.1%} / "
        f"{report.cached_reduction:.1%} less), "
        f"worker agreement {report.worker_agreement:.2%}",
        fontsize=11,
    )

    if series.vix is not None:
        vix_axis.plot(seconds, series.vix, color="#444444", linewidth=0.7, label="volatility")
        vix_axis.axhline(scenario.breaker.trip_level, color="red", linestyle="--", linewidth=0.8)
        vix_axis.axhline(scenario.breaker.reset_level, color="green", linestyle="--", linewidth=0.8)
        vix_axis.text(0, scenario.breaker.trip_level, " trip", color="red", va="bottom")
        vix_axis.text(0, scenario.breaker.reset_level, " reset", color="green", va="bottom")
        vix_axis.set_ylabel("VIX")
    else:
        for start, end in scenario.panic_windows or ():
            vix_axis.axvspan(start / scale, end / scale, color="red", alpha=0.2)
        vix_axis.set_yticks([])
        vix_axis.set_ylabel("panic\nwindows")

    for index, (label, tiers) in enumerate(series.tier.items()):
        style = {
            "where": "post",
            "color": _COLORS[index % len(_COLORS)],
            "linestyle": _DASHES[index % len(_DASHES)],
            "linewidth": _WIDTHS[min(index, len(_WIDTHS) - 1)],
            "label": label,
            "zorder": 2 + index,  # narrower lines on top
        }
        offset = (index - (len(series.tier) - 1) / 2) * 0.06  # keep equal lines visible
        tier_axis.step(seconds, [t + offset for t in tiers], **style)
        ttl_axis.step(seconds, series.ttl[label], **style)
    tier_axis.set_yticks(range(5), [f"{t} {m.value}" for t, m in enumerate(MODE_BY_TIER)])
    tier_axis.set_ylim(-0.4, 4.4)
    tier_axis.set_ylabel("tier")
    tier_axis.legend(loc="upper left", fontsize=8)
    ttl_axis.set_ylabel("TTL (s)")
    ttl_axis.set_ylim(-3, max(scenario.normal_ttl, 1) * 1.25)  # headroom for the legend
    ttl_axis.legend(loc="upper left", fontsize=8, ncols=min(len(series.ttl), 3))

    minutes = [(m.minute * 60 + 30) / scale for m in report.timeline]
    baseline = [m.baseline_upstream_requests / 60 for m in report.timeline]
    load_axis.plot(
        minutes, baseline, color="#d62728", linewidth=3, alpha=0.45, label="always fresh (baseline)"
    )
    load_axis.plot(
        minutes,
        [m.upstream_requests / 60 for m in report.timeline],
        color="#1f77b4",
        linewidth=1.4,
        label="adaptive policy",
    )
    load_axis.plot(
        minutes,
        [m.cached_upstream_requests / 60 for m in report.timeline],
        color="#2ca02c",
        linewidth=1.4,
        linestyle="--",
        label=f"policy + PanicCache ({scenario.upstream_latency_ms:g} ms fetches)",
    )
    top = max([*baseline, scenario.upstream_capacity or 0, 1])
    if scenario.upstream_capacity is not None:
        load_axis.axhline(
            scenario.upstream_capacity,
            color="black",
            linestyle=":",
            label=f"capacity {scenario.upstream_capacity:,g}/s",
        )
    # Log scale: the baseline's thousands and the policy's few requests per
    # second both stay readable; symlog keeps the zeros of a calm period.
    load_axis.set_yscale("symlog", linthresh=1)
    load_axis.set_ylim(0, top * 30)  # headroom for the legend
    load_axis.set_ylabel("upstream requests/s\n(mean per minute)")
    load_axis.legend(loc="upper center", ncols=4, fontsize=8)
    load_axis.set_xlabel(f"simulated time ({unit})")

    # Contexts that enter the same alerting tier at the same second share a mark.
    marks: dict[tuple[int, int], list[str]] = {}
    for alert in report.alerts:
        marks.setdefault((alert.second, alert.tier), []).append(alert.context)
    for second in sorted({second for second, _ in marks}):
        for axis in axes:
            axis.axvline(second / scale, color="orange", linestyle="-.", linewidth=0.9, alpha=0.8)
    labels = [
        tier_axis.annotate(
            f"alert: tier {tier}\n" + ", ".join(contexts),
            (second / scale, tier),
            xytext=(3, -22),
            textcoords="offset points",
            fontsize=7,
            color="darkorange",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": (1, 1, 1, 0.6), "edgecolor": "none"},
            zorder=10,
        )
        for (second, tier), contexts in sorted(marks.items())
    ]
    _keep_apart(figure, labels)
    for axis in axes:
        axis.grid(True, alpha=0.3)
    _save(figure, path)
    pyplot.close(figure)


def _keep_apart(figure: Any, labels: list[Any]) -> None:
    """Move each alert label down until it overlaps none placed before it (in time order)."""
    renderer = figure.canvas.get_renderer()
    points_per_pixel = 72 / figure.dpi
    placed: list[Any] = []
    for label in labels:
        # Each step puts the label below one box it overlaps; moving only down,
        # it never meets that box again, so len(placed) steps are enough.
        for _ in range(len(placed)):
            box = label.get_window_extent(renderer)
            hit = next((other for other in placed if box.overlaps(other)), None)
            if hit is None:
                break
            x, y = label.xyann
            label.xyann = (x, y - (box.y1 - hit.y0 + 2) * points_per_pixel)
        placed.append(label.get_window_extent(renderer))


def _save(figure: Any, path: str | PathLike[str]) -> None:
    figure.savefig(path, dpi=110)
