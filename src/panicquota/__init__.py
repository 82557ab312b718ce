"""panicquota: adaptive cache TTLs during volatility panics.

``import panicquota`` needs only the standard library; the Redis-backed
breakers are imported on first use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from panicquota.decision import Decision, DecisionMeta, FrozenMeta, with_meta
from panicquota.errors import (
    ConfigError,
    InvalidArgumentError,
    InvalidTypeError,
    PanicquotaError,
)
from panicquota.policy import AdaptivePanicQuota
from panicquota.stakes import MatchImportance, Stakes
from panicquota.tiers import PanicMode, Thresholds, TierTTLs

if TYPE_CHECKING:
    from panicquota.breaker import AsyncVIXCircuitBreaker, VIXCircuitBreaker

__all__ = [
    "AdaptivePanicQuota",
    "AsyncVIXCircuitBreaker",
    "ConfigError",
    "Decision",
    "DecisionMeta",
    "FrozenMeta",
    "InvalidArgumentError",
    "InvalidTypeError",
    "MatchImportance",
    "PanicMode",
    "PanicquotaError",
    "Stakes",
    "Thresholds",
    "TierTTLs",
    "VIXCircuitBreaker",
    "with_meta",
]

__version__ = "0.1.0"

# A library's logs go where the application configures logging, not to
# stderr through logging's last-resort handler.
logging.getLogger("panicquota").addHandler(logging.NullHandler())

_LAZY = {
    "VIXCircuitBreaker": "panicquota.breaker",
    "AsyncVIXCircuitBreaker": "panicquota.breaker",
}


def __getattr__(name: str) -> Any:
    # The breakers need redis-py; importing them here would break the
    # stdlib-only promise of `import panicquota`.
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'panicquota' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
