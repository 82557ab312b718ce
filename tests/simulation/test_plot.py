"""The PNG plot: every line visible, a legend on the TTL panel, alert labels apart (issue 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from panicquota.simulation import _plot, plot_report, scenario_from_mapping, simulate

pytest.importorskip("matplotlib")

# Two contexts whose TTLs coincide for minutes, and alerts 30 s apart.
TABLE = {
    "name": "plot",
    "duration_minutes": 10,
    "workers": 1,
    "rps": 4,
    "normal_ttl": 60,
    "volatility": {"points": [[0, 10], [0.5, 40], [9, 40], [9.5, 10]]},
    "contexts": [{"league": "Ligue 1", "share": 1}, {"context": "UCL", "share": 1}],
    "breaker": {"calm_seconds": 10},
    "policy": {"thresholds": {"medium": [1, 2, 3], "high": [1, 2.5, 4]}},
}


@pytest.fixture
def figure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Plot the scenario and return the figure as it was saved."""
    saved: list[Any] = []
    monkeypatch.setattr(_plot, "_save", lambda figure, path: saved.append(figure))
    plot_report(simulate(scenario_from_mapping(TABLE)), tmp_path / "plot.png")
    return saved[0]


def test_ttl_panel_has_a_legend(figure: Any) -> None:
    """The TTL panel names its lines, like the tier panel."""
    _, tier_axis, ttl_axis, _ = figure.axes
    for axis in (tier_axis, ttl_axis):
        assert [t.get_text() for t in axis.get_legend().get_texts()] == ["Ligue 1", "UCL"]


def test_coinciding_lines_stay_visible(figure: Any) -> None:
    """Lines of different contexts differ in dash and width, the wider drawn underneath."""
    for axis in figure.axes[1:3]:
        first, second = axis.get_lines()[:2]
        assert first.get_linestyle() != second.get_linestyle()
        assert first.get_linewidth() > second.get_linewidth()
        assert first.get_zorder() < second.get_zorder()


def test_alert_labels_close_in_time_do_not_overlap(figure: Any) -> None:
    """Alerts 30 s apart get labels on different rows: no two label boxes overlap."""
    tier_axis = figure.axes[1]
    labels = [a for a in tier_axis.texts if a.get_text().startswith("alert:")]
    assert [a.get_text() for a in labels] == [
        "alert: tier 3\nLigue 1",
        "alert: tier 3\nUCL",
        "alert: tier 4\nLigue 1",
        "alert: tier 4\nUCL",
    ]
    figure.canvas.draw()
    boxes = [a.get_window_extent() for a in labels]
    for index, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[index + 1 :])
