"""Agreement in the real mode: the workers' checkpoints, judged against what the feeder wrote.

Every worker records, for each simulated second it saw, its decision for
every context and the panic start it decided from (a *checkpoint*). Two
workers may see different starts at the same second for one reason only: the
feeder changed the stored start (a trip, a reset, a resumed episode) while
they were reading it, so one read before the change and the other after, or
from a snapshot up to the staleness bound old. Anything else is a bug.

So the checkpoints of one (second, context) are compared as a whole: they
agree when every worker decided the same from the same start. When they
differ, the difference is *excused* only if each worker's start was in Redis
at some moment between the oldest read its decision may rest on (its second
less the staleness bound) and the moment it decided, and workers that read
the same start decided the same. A worker on another key prefix, with a
shifted start or with another policy is caught at the first second it differs.

Only a second that two workers or more checked is *compared*; a second one
worker alone checked cannot disagree with anything, so every checkpoint is
also held against the policy, which is pure: its decision must be the one
the policy gives for the start that worker read, at its second (a panic
started in its future counts as just started, as the breaker does). A worker
alone on an impossible decision is caught that way.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation._engine import SIMULATION_EPOCH
from panicquota.simulation._report import Disagreement, DisagreementKind
from panicquota.simulation._scenario import Scenario
from panicquota.tiers import MODE_BY_TIER, TIER_BY_MODE

__all__ = ["Agreement", "Checkpoint", "StartChange", "StartHistory", "agreement"]

#: ``(ttl, tier, panic start)`` of one context at a checkpoint.
Decided = tuple[float, int, float | None]
#: One checkpoint: ``(simulated second, wall time decided, Decided per context)``.
Checkpoint = tuple[int, float, tuple[Decided, ...]]

#: Disagreements kept in the report (the count is always complete).
_KEPT: Final = 20


@dataclass(frozen=True, slots=True)
class StartChange:
    """The feeder changed the stored panic start: a trip, a reset or a resumed episode."""

    #: The simulated second whose reading (or window edge) made the change.
    second: int
    #: Wall time (epoch seconds) at which the feeder's call began.
    issued_at: float
    #: Wall time at which it returned: the change was in Redis by then.
    written_at: float
    #: The stored start after the change (``None``: no panic).
    start: float | None


class StartHistory:
    """Which starts Redis may have held during a wall-time interval, from the feeder's changes."""

    def __init__(self, changes: Sequence[StartChange]) -> None:
        # State k holds from the moment change k was issued (state 0, no
        # panic, from the beginning) until change k + 1 returned.
        self._issued = [-math.inf, *(c.issued_at for c in changes)]
        self._replaced = [*(c.written_at for c in changes), math.inf]
        self._starts: list[float | None] = [None, *(c.start for c in changes)]

    def possible(self, earliest: float, latest: float) -> set[float | None]:
        """Return the starts that Redis may have held at some moment in ``[earliest, latest]``."""
        first = bisect.bisect_left(self._replaced, earliest)
        last = bisect.bisect_right(self._issued, latest) - 1
        return set(self._starts[first : last + 1])


@dataclass(frozen=True, slots=True)
class Agreement:
    """The verdict on the workers' checkpoints."""

    #: (second, context) slots that at least one worker checked.
    points: int
    #: The points that two workers or more checked, so compared between them.
    compared: int
    #: Points where every worker decided the same, from the same start, plus the excused ones.
    agreeing: int
    #: Points where workers read different starts within the staleness bound of a change.
    excused: int
    #: The first disagreements.
    disagreements: tuple[Disagreement, ...]


def agreement(
    scenario: Scenario,
    checkpoints: Sequence[Sequence[Checkpoint]],
    changes: Sequence[StartChange],
    *,
    wall0: float,
    speed: float,
    max_staleness: float,
    epoch: float = SIMULATION_EPOCH,
) -> Agreement:
    """Judge the workers' checkpoints (see the module's docstring).

    Args:
        scenario: the scenario played (for the context labels).
        checkpoints: per worker, its checkpoints in order.
        changes: the feeder's changes of the stored start, in order.
        wall0: the wall time at which simulated second 0 began.
        speed: simulated seconds per wall second.
        max_staleness: the workers' staleness bound, in simulated seconds.
        epoch: the workers' clock at simulated second 0.
    """
    history = StartHistory(changes)
    policy = _Policy(scenario, epoch)
    by_second: dict[int, list[tuple[int, float, tuple[Decided, ...]]]] = {}
    for worker, records in enumerate(checkpoints):
        for second, decided_at, record in records:
            by_second.setdefault(second, []).append((worker, decided_at, record))
    contexts = len(scenario.contexts)
    points = compared = agreeing = excused = 0
    disagreements: list[Disagreement] = []

    def keep(kind: DisagreementKind, second: int, c: int, seen: Sequence[_Seen]) -> None:
        if len(disagreements) < _KEPT:
            decided = [record[c] for _, _, record in seen]
            disagreements.append(
                Disagreement(
                    second,
                    scenario.contexts[c].label,
                    tuple((ttl, MODE_BY_TIER[tier], tier) for ttl, tier, _ in decided),
                    kind=kind,
                    workers=tuple(worker for worker, _, _ in seen),
                    starts=tuple(None if start is None else start - epoch for *_, start in decided),
                )
            )

    for second in sorted(by_second):
        seen = by_second[second]
        points += contexts
        if len(seen) > 1:
            compared += contexts
        earliest = wall0 + (second - max_staleness) / speed
        for c in range(contexts):
            distinct = {record[c] for _, _, record in seen}
            if any(not policy.gives(second, c, decided) for decided in distinct):
                keep(DisagreementKind.POLICY, second, c, seen)
            elif len(distinct) == 1:
                agreeing += 1
            elif _excusable([(record[c], at) for _, at, record in seen], history, earliest):
                agreeing += 1
                excused += 1
            else:
                keep(DisagreementKind.DIFFER, second, c, seen)
    return Agreement(points, compared, agreeing, excused, tuple(disagreements))


#: ``(worker, wall time decided, Decided per context)``: one worker's checkpoint of a second.
_Seen = tuple[int, float, tuple[Decided, ...]]


class _Policy:
    """What the (pure) policy decides for a start read at a second."""

    def __init__(self, scenario: Scenario, epoch: float) -> None:
        from panicquota.breaker import JUST_STARTED  # imports redis: only when judging

        self._just_started = JUST_STARTED
        self._quota = AdaptivePanicQuota(**scenario.policy)
        self._contexts = [share.context for share in scenario.contexts]
        self._normal_ttl = scenario.normal_ttl
        self._epoch = epoch

    def gives(self, second: int, c: int, decided: Decided) -> bool:
        """Whether the policy decides ``decided``'s TTL and tier from its start at *second*."""
        ttl, tier, start = decided
        if start is None:
            minutes = None
        else:
            minutes = (self._epoch + second - start) / 60.0
            if minutes <= 0.0:
                minutes = self._just_started
        got, mode, _ = self._quota.calculate_ttl_strategy(
            self._normal_ttl, minutes, self._contexts[c]
        )
        return (got, TIER_BY_MODE[mode]) == (ttl, tier)


def _excusable(
    decided: Sequence[tuple[Decided, float]], history: StartHistory, earliest: float
) -> bool:
    """Whether differing decisions come from reading around a change of start, and only that."""
    by_start: dict[float | None, tuple[float, int]] = {}
    for (ttl, tier, start), decided_at in decided:
        if by_start.setdefault(start, (ttl, tier)) != (ttl, tier):
            return False  # the same start at the same instant: one decision, always
        if start not in history.possible(earliest, decided_at):
            return False
    return True
