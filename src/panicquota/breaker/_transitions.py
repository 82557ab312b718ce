"""Tier transitions: what changed since the last read, one deliverer elected per change."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from panicquota.breaker._scripts import Flow, Keys
from panicquota.breaker._snapshot import JUST_STARTED, Snapshot, as_text
from panicquota.breaker._types import TierTransition
from panicquota.stakes import Stakes
from panicquota.tiers import Thresholds

if TYPE_CHECKING:
    from panicquota.breaker._types import BreakerObserver

__all__ = ["MARK_LIFETIME", "TransitionRules", "mark"]

logger = logging.getLogger("panicquota.breaker")

#: How long the marks electing a transition's deliverer are kept (seconds),
#: counted from their panic's start: a trip prunes older ones. Longer than
#: any panic, short enough not to pile up.
MARK_LIFETIME: Final = 7 * 86400


def mark(owner: tuple[str, str], stakes: Stakes, tier: int) -> str:
    """Return the field of the marks hash that elects the deliverer of one step."""
    return f"{owner[0]}|{owner[1]}|{stakes.value}|{tier}"


def _steps(stakes: Stakes, before: int, after: int) -> list[tuple[Stakes, int, int]]:
    """Split a change of tier into the transitions it stands for.

    A rise is split into one step per tier, so that every worker names a
    transition alike (``n-1 -> n``) whichever tiers it happened to observe,
    and the one elected to deliver it reports what every other worker would.
    A fall happens only when the panic ends: one step to tier 0.
    """
    if after < before:
        return [(stakes, before, after)]
    return [(stakes, tier - 1, tier) for tier in range(before + 1, after + 1)]


class TransitionRules:
    """The transition half of :class:`~panicquota.breaker._core.BreakerCore` (a mixin)."""

    keys: Keys
    metrics: BreakerObserver | None
    snapshot: Snapshot
    thresholds: Mapping[Stakes, Thresholds] | None
    tiers: dict[Stakes, int]
    tier_owner: tuple[str, str] | None

    def _transitions_flow(self, now: float) -> Flow[list[TierTransition]]:
        """Compare tiers with the last seen ones; elect one deliverer per change in Redis."""
        if self.thresholds is None:
            return []
        snap = self.snapshot
        owner = self.tier_owner
        if snap.start is not None and snap.raw is not None:
            minutes = max((now - snap.start) / 60.0, JUST_STARTED)
            # An unknown counter ("") is an activation of its own: the marks do
            # not vouch for it unless it is current, so nothing is delivered twice.
            activation = "" if snap.activation is None else as_text(snap.activation)
            current = (as_text(snap.raw), activation)
            if snap.activation is None and owner is not None and owner[0] == current[0]:
                # The counter was evicted, not bumped: still the same activation.
                current = owner
            if current != owner:
                # A new activation: its tiers rise from "no panic".
                self.tiers = dict.fromkeys(self.tiers, 0)
                owner = current
            tiers = {s: t.tier_of(minutes) for s, t in self.thresholds.items()}
        else:
            # How long the ended panic had lasted.
            minutes = 0.0 if owner is None else max((now - float(owner[0])) / 60.0, 0.0)
            tiers = dict.fromkeys(self.tiers, 0)
        changes = [
            change
            for s, tier in tiers.items()
            if self.tiers[s] != tier
            for change in _steps(s, self.tiers[s], tier)
        ]
        self.tiers = tiers
        self.tier_owner = owner
        if not changes or owner is None:
            return []
        election = [mark(owner, s, to) for s, _, to in changes]
        # The steps reached before these: marked too if the marks were lost.
        reached = [
            field
            for s, tier in tiers.items()
            for to in range(1, tier + 1)
            if (field := mark(owner, s, to)) not in election
        ]
        keys = self.keys
        won = yield (
            "dedup",
            (keys.marks, keys.start, keys.activation),
            (f"{owner[0]}|{owner[1]}", len(election), *election, *reached),
        )
        start = float(owner[0])
        return [
            TierTransition(before, to, s, round(minutes, 1), now, start)
            for (s, before, to), mine in zip(changes, won, strict=True)
            if int(mine)
        ]

    def announce(self, transition: TierTransition) -> None:
        """Log and count a transition this worker was elected to deliver."""
        level = logging.WARNING if transition.to_tier >= 3 else logging.INFO
        logger.log(
            level,
            "breaker %r: %s tier %d -> %d after %.1f min",
            self.keys.prefix,
            transition.stakes.value,
            transition.from_tier,
            transition.to_tier,
            transition.duration_minutes,
        )
        if self.metrics is not None:
            self.metrics.transition(transition)
