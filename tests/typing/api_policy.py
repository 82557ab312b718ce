"""Type-checked (not run) examples of the public policy API: mypy --strict must accept them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from panicquota import (
    AdaptivePanicQuota,
    Decision,
    MatchImportance,
    PanicMode,
    Stakes,
    Thresholds,
    TierTTLs,
    with_meta,
)

quota = AdaptivePanicQuota(
    {Stakes.MEDIUM: Thresholds(20, 60, 120), "low": (10, 20, 40)},
    TierTTLs(0, 10, 30, 60),
    rules={"high": ["Cup Final"]},
)
decision: Decision = quota.calculate_ttl_strategy(60, 35.0, {"league": "Ligue 1"})
ttl, mode, meta = decision
ttl_seconds: float = ttl
panic_mode: PanicMode = mode
metadata: Mapping[str, Any] = meta
tier: int = meta["tier"]
stakes: Stakes = MatchImportance().classify("UCL")
extended: Decision = with_meta(decision, {"source": "fresh"})
configured: AdaptivePanicQuota = AdaptivePanicQuota.from_toml("pyproject.toml")
