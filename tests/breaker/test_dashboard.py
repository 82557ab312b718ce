"""The shipped Grafana dashboard: valid, and only about metrics the breaker exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from panicquota.breaker._metrics import METRIC_NAMES
from panicquota.cache._metrics import METRIC_NAMES as CACHE_METRIC_NAMES

DASHBOARD = Path(__file__).parents[2] / "dashboards" / "panicquota.json"


def test_dashboard_queries_only_exported_metrics() -> None:
    """Every query names a metric the breaker or the cache exports (histograms via _bucket)."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"panicquota_\w+", expr)}
    exported = (
        set(METRIC_NAMES) | {f"{name}_bucket" for name in METRIC_NAMES} | set(CACHE_METRIC_NAMES)
    )
    assert used <= exported
    assert {"panicquota_decisions_total", "panicquota_panic_duration_seconds"} <= used
    assert "panicquota_store_errors_total" in used
    assert set(CACHE_METRIC_NAMES) <= used


def test_dashboard_panels_have_unique_ids() -> None:
    """Grafana needs distinct panel ids; the titles name what the panel shows."""
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    titles = {panel["title"] for panel in panels}
    assert {"Tier distribution of decisions", "Cache hit ratio by tier"} <= titles
