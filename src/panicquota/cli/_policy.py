"""``panicquota decide`` and ``panicquota table``: the policy from the command line."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from panicquota.policy import AdaptivePanicQuota
from panicquota.stakes import Stakes
from panicquota.tiers import MODE_BY_TIER


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``decide`` and ``table`` sub-commands."""
    decide = subparsers.add_parser(
        "decide",
        help="print the policy's decision for one panic duration and context",
        description="Print the TTL, mode and metadata the policy decides.",
    )
    decide.add_argument(
        "--duration",
        type=_minutes,
        required=True,
        metavar="MINUTES",
        help="how long the panic has lasted (0: no panic)",
    )
    context = decide.add_mutually_exclusive_group()
    context.add_argument("--league", help='the context\'s league, e.g. "Ligue 1"')
    context.add_argument("--context", help="a free-text context, e.g. an event name")
    decide.add_argument(
        "--normal-ttl", type=_seconds, default=60, metavar="SECONDS", help="TTL outside panic"
    )
    decide.add_argument("--config", metavar="FILE", help="a TOML policy configuration")
    decide.add_argument("--json", action="store_true", help="print JSON instead of text")
    decide.set_defaults(func=_decide)

    table = subparsers.add_parser(
        "table",
        help="print the stakes x tier matrix of the active configuration",
        description="Print thresholds, TTLs, modes and alerts for every stakes level and tier.",
    )
    table.add_argument("--config", metavar="FILE", help="a TOML policy configuration")
    table.add_argument("--json", action="store_true", help="print JSON instead of a table")
    table.set_defaults(func=_table)


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of {what}, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of {what} >= 0, got {text!r}")
    return int(value) if value.is_integer() else value


def _minutes(text: str) -> float:
    return _number(text, "minutes")


def _seconds(text: str) -> float:
    return _number(text, "seconds")


def _policy(args: argparse.Namespace) -> AdaptivePanicQuota:
    if args.config is None:
        return AdaptivePanicQuota()
    return AdaptivePanicQuota.from_toml(args.config)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return value


def _decide(args: argparse.Namespace) -> int:
    context = {"league": args.league} if args.league is not None else args.context
    ttl, mode, meta = _policy(args).calculate_ttl_strategy(args.normal_ttl, args.duration, context)
    if args.json:
        print(json.dumps({key: _jsonable(value) for key, value in meta.items()}, indent=2))
        return 0
    print(f"ttl: {ttl:g} s   mode: {mode.value}   tier: {meta['tier']}   stakes: {meta['stakes']}")
    bounds = meta["thresholds"]
    print(
        f"thresholds ({meta['stakes']}): tier 2 at {bounds.tier2:g} min, "
        f"tier 3 at {bounds.tier3:g} min, tier 4 at {bounds.tier4:g} min"
    )
    print(f"panic duration: {meta['panic_duration_minutes']:g} min")
    if meta["alert"] is not None:
        print(f"alert: {meta['alert']}")
    return 0


def _table(args: argparse.Namespace) -> int:
    policy = _policy(args)
    rows = []
    for stakes in Stakes:
        bounds = policy.thresholds[stakes]
        starts = (0, bounds.tier2, bounds.tier3, bounds.tier4, math.inf)
        keywords = ", ".join(policy.importance.rules[stakes]) or "(anything else)"
        for tier in range(1, 5):
            rows.append(
                {
                    "stakes": stakes.value,
                    "tier": tier,
                    "from_minutes": starts[tier - 1],
                    "to_minutes": None if math.isinf(starts[tier]) else starts[tier],
                    "ttl_seconds": policy.ttls[tier],
                    "mode": MODE_BY_TIER[tier].value,
                    "alert": tier >= 3,
                    "keywords": keywords,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'stakes':<14} {'tier':>4}  {'panic duration':<18} {'ttl':>5}  {'mode':<14} alert"
    print(header)
    print("-" * len(header))
    for row in rows:
        end = "" if row["to_minutes"] is None else f"{row['to_minutes']:g}"
        span = f"{row['from_minutes']:g}-{end} min" if end else f">= {row['from_minutes']:g} min"
        alert = "yes" if row["alert"] else "-"
        print(
            f"{row['stakes']:<14} {row['tier']:>4}  {span:<18} {row['ttl_seconds']:>4g}s  "
            f"{row['mode']:<14} {alert}"
        )
    print()
    for stakes in Stakes:
        keywords = ", ".join(policy.importance.rules[stakes]) or "(anything else)"
        print(f"{stakes.value}: {keywords}")
    return 0
