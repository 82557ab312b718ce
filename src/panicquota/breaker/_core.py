"""The breaker's logic, free of I/O, shared by the sync and the async breaker.

Everything that talks to Redis is written as a *flow*: a generator that
yields the script calls it needs (``(script, keys, args)``) and receives their
replies. The sync breaker runs a flow with blocking calls, the async one with
awaits, so the two share every rule and differ only in how they wait.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from panicquota._validate import require_number
from panicquota.breaker._scripts import Keys
from panicquota.breaker._types import StateSource, TierTransition, TimeSource
from panicquota.clock import Clock, system_clock
from panicquota.decision import Decision, ExtendedMeta
from panicquota.errors import ConfigError, InvalidArgumentError, InvalidTypeError
from panicquota.policy import AdaptivePanicQuota
from panicquota.stakes import Context, Stakes
from panicquota.tiers import Thresholds

if TYPE_CHECKING:
    from panicquota.breaker._types import BreakerObserver

__all__ = ["BreakerCore", "Call", "Flow", "Snapshot"]

logger = logging.getLogger("panicquota.breaker")

T = TypeVar("T")
#: One script call: the script's name, its keys, its arguments.
Call = tuple[str, Sequence[str], Sequence[object]]
#: A sans-I/O operation: yields calls, receives their replies, returns a result.
Flow = Generator[Call, Any, T]
Listener = Callable[[TierTransition], object]

#: The policy reads a duration of 0 as "no panic": a panic that started this
#: very instant is given this many minutes (60 ns) so that it is tier 1.
JUST_STARTED: Final = 1e-9
#: While Redis is down, the first retry waits this long, then twice as long
#: each time up to BACKOFF_MAX: an outage costs one failed call per interval,
#: and a recovered Redis is used again within BACKOFF_MAX seconds.
BACKOFF_FIRST: Final = 0.25
BACKOFF_MAX: Final = 2.0
#: A read still unanswered after this long (seconds) starts an outage, even
#: if the client would wait for ever (redis.Redis() has no socket timeout).
SLOW_READ: Final = 2.0
#: How long the keys that elect a transition's deliverer live: longer than
#: any panic, short enough not to pile up.
TRANSITION_KEY_TTL: Final = 7 * 86400
#: The episode-end marker lives at least this long (and at least the grace
#: window): a worker cut off from Redis for longer may restore a reset panic.
END_MARKER_MIN_TTL: Final = 86400
#: A stored start older than this (seconds) is corrupt: seven days, the life of
#: the transition keys (an older panic would deliver its transitions again),
#: and far past the last tier (CHRONIC after hours): a start that old is a
#: leftover or a bad write, not a panic still running.
MAX_PANIC_AGE: Final = 7 * 86400.0
#: 2000-01-01 UTC: no panic this library handles started earlier.
EARLIEST_START: Final = 946_684_800.0

#: What the server says when it refuses, by error code (or exception class
#: name, as redis-py and valkey-py strip the code), and what to change.
_REFUSALS: Final = (
    (
        ("MOVED", "ASK", "MovedError", "AskError"),
        "this is a cluster node: use a cluster client (redis.RedisCluster) or a "
        "redis+cluster:// URL, and a hash-tagged key prefix such as '{vix:panic}'",
    ),
    (
        ("NOPERM", "NoPermissionError"),
        "the Redis user lacks a permission: grant it EVAL, EVALSHA, SCRIPT and TIME "
        "and read/write access to the prefix's keys (ACL SETUSER <user> +eval +evalsha "
        "+script +time ~<prefix>*)",
    ),
    (
        ("NOSCRIPT", "NoScriptError"),
        "the server does not keep the breaker's Lua scripts: allow SCRIPT LOAD and "
        "do not flush the script cache (a proxy in front of Redis may drop scripts)",
    ),
    (
        ("READONLY", "ReadOnlyError"),
        "this server is a read-only replica: point the breaker at the primary "
        "(with Sentinel, a redis+sentinel:// URL)",
    ),
)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


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


def _class_names(error: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(error).__mro__}


def is_refusal(error: BaseException) -> bool:
    """Whether the server answered and refused (redis-py, valkey-py: a ResponseError)."""
    names = _class_names(error)
    code = str(error).split(" ", 1)[0]
    return "ResponseError" in names or any(
        code in markers or names.intersection(markers) for markers, _ in _REFUSALS
    )


def describe_store_error(error: BaseException) -> str:
    """Say what a failed store call means: Redis unreachable, or refusing the scripts."""
    names = _class_names(error)
    text = str(error)
    code = text.split(" ", 1)[0]
    for markers, advice in _REFUSALS:
        if code in markers or names.intersection(markers):
            return f"Redis refused the breaker's script ({type(error).__name__}: {error}): {advice}"
    if "ResponseError" in names:
        # The server answered: retrying will not help until someone changes
        # the configuration, so say which configuration.
        return (
            f"Redis refused the breaker's script ({type(error).__name__}: {error}); "
            "check that the server runs Lua scripts (EVALSHA), that on Redis Cluster the "
            "key prefix has a hash tag such as '{vix:panic}', and that no other data "
            "uses keys under the prefix"
        )
    if isinstance(error, (UnicodeError, ValueError, TypeError, IndexError)):
        return (
            f"the breaker could not read Redis's reply ({type(error).__name__}: {error}); "
            "pass a client without decode_responses, or check what else writes the prefix's keys"
        )
    return f"Redis is unreachable ({type(error).__name__}: {error})"


def encode_ts(epoch_seconds: float) -> str:
    """Return epoch seconds as stored in Redis (microsecond precision)."""
    return f"{epoch_seconds:.6f}"


def _extras(source: StateSource, start: float | None, clamped: bool) -> Mapping[str, Any]:
    return MappingProxyType({"source": source, "panic_start_ts": start, "clamped": clamped})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The shared state as this worker last read it."""

    start: float | None
    raw: bytes | str | None  # the start exactly as stored, for compare-and-set
    activation: bytes | str | None
    read_at: float  # the interval clock (monotonic) when read; -inf if never read
    offset: float  # add to the local clock to get the breaker's time
    fresh: Mapping[str, Any]
    cached: Mapping[str, Any]
    stale: Mapping[str, Any]

    @classmethod
    def build(
        cls,
        start: float | None,
        raw: bytes | str | None,
        activation: bytes | str | None,
        read_at: float,
        offset: float,
    ) -> Snapshot:
        """Return a snapshot with its metadata extras built once, not per call."""
        return cls(
            start,
            raw,
            activation,
            read_at,
            offset,
            _extras(StateSource.FRESH, start, False),
            _extras(StateSource.CACHED, start, False),
            _extras(StateSource.STALE, start, False),
        )

    @property
    def known(self) -> bool:
        """Whether this worker ever read the state."""
        return self.read_at > -math.inf


NEVER_READ: Final = Snapshot.build(None, None, None, -math.inf, 0.0)


class BreakerCore:
    """The configuration, the known state and the rules of one breaker."""

    def __init__(
        self,
        quota: AdaptivePanicQuota | None,
        *,
        key_prefix: str,
        clock: Clock | None,
        time_source: TimeSource | str,
        max_staleness: float,
        trip_level: float,
        reset_level: float,
        calm_seconds: float,
        grace_seconds: float,
        fail_safe_ttl: float | None,
        max_clock_skew: float,
        max_panic_age: float,
        on_transition: Listener | None,
        metrics: BreakerObserver | None,
    ) -> None:
        if not isinstance(key_prefix, str) or not key_prefix:
            raise InvalidArgumentError(
                f"key_prefix must be a non-empty string such as 'vix:panic', got {key_prefix!r}"
            )
        if clock is not None and not callable(clock):
            raise InvalidTypeError(
                f"clock must be a callable returning epoch seconds, got {clock!r}"
            )
        try:
            self.time_source = TimeSource(time_source)
        except ValueError:
            raise InvalidArgumentError(
                f"time_source must be 'local' or 'redis', got {time_source!r}"
            ) from None
        self.quota = AdaptivePanicQuota() if quota is None else quota
        if not callable(getattr(self.quota, "calculate_ttl_strategy", None)):
            raise InvalidTypeError(
                f"quota must have a calculate_ttl_strategy method, got {quota!r}"
            )
        self.max_staleness = float(require_number("max_staleness", max_staleness))
        self.trip_level = float(require_number("trip_level", trip_level))
        self.reset_level = float(require_number("reset_level", reset_level))
        if not self.reset_level < self.trip_level:
            raise ConfigError(
                "reset_level must be below trip_level (hysteresis), "
                f"got reset_level={reset_level!r}, trip_level={trip_level!r}"
            )
        self.calm_seconds = float(require_number("calm_seconds", calm_seconds))
        self.grace_seconds = float(require_number("grace_seconds", grace_seconds))
        self.max_clock_skew = float(require_number("max_clock_skew", max_clock_skew))
        self.max_panic_age = float(require_number("max_panic_age", max_panic_age))
        self.fail_safe_ttl = (
            None if fail_safe_ttl is None else require_number("fail_safe_ttl", fail_safe_ttl)
        )
        self.keys = Keys(key_prefix)
        self.clock: Clock = system_clock if clock is None else clock
        # Purely local intervals (staleness, backoff, the calm period) are
        # measured on a monotonic clock, so a stepped wall clock cannot stop
        # the retries; an injected clock drives both (tests, simulations).
        self.mono: Clock = time.monotonic if clock is None else clock
        self.metrics = metrics
        self.listeners: list[Listener] = [] if on_transition is None else [on_transition]
        self.snapshot = NEVER_READ
        # Per stakes level, the tier this worker last saw, and the activation
        # (start, counter) it belonged to: transitions are changes of these.
        thresholds: Mapping[Stakes, Thresholds] | None = getattr(self.quota, "thresholds", None)
        self.thresholds = thresholds
        self.tiers: dict[Stakes, int] = dict.fromkeys(thresholds or (), 0)
        self.tier_owner: tuple[str, str] | None = None
        self.calm_since: float | None = None
        self.outage_since: float | None = None
        self.retry_at = -math.inf
        self.backoff = BACKOFF_FIRST
        self.warned: set[str] = set()
        self.calc = self.quota.calculate_ttl_strategy

    # -- deciding (no I/O) -------------------------------------------------

    def is_fresh(self, mono: float) -> bool:
        """Return whether the snapshot may serve a decision at interval-clock time *mono*."""
        return 0.0 <= mono - self.snapshot.read_at < self.max_staleness

    def decide(
        self,
        snap: Snapshot,
        local: float,
        normal_ttl: float,
        context: Context,
        extra: Mapping[str, Any],
    ) -> Decision:
        """Return the policy's decision for *snap* at local time *local*."""
        start = snap.start
        if start is None:
            ttl, mode, meta = self.calc(normal_ttl, None, context)
        else:
            minutes = (local + snap.offset - start) / 60.0
            if minutes <= 0.0:
                if minutes < 0.0:
                    extra = _extras(extra["source"], start, True)
                minutes = JUST_STARTED
            ttl, mode, meta = self.calc(normal_ttl, minutes, context)
        if self.metrics is not None:
            self.metrics.decision(mode, meta, extra["source"])
        return (ttl, mode, ExtendedMeta(meta, extra))

    def fail_safe(self, normal_ttl: float, context: Context) -> Decision:
        """Return the decision served when no state was ever read and Redis is down."""
        ttl, mode, meta = self.calc(normal_ttl, None, context)
        extra: dict[str, Any] = {"source": StateSource.FAIL_SAFE, "panic_start_ts": None}
        extra["clamped"] = False
        if self.fail_safe_ttl is not None:
            ttl = min(self.fail_safe_ttl, ttl)
            extra["ttl"] = ttl
        if self.metrics is not None:
            self.metrics.decision(mode, meta, StateSource.FAIL_SAFE)
        return (ttl, mode, ExtendedMeta(meta, MappingProxyType(extra)))

    def duration_minutes(self, snap: Snapshot, local: float) -> float | None:
        """Return the panic's duration in *snap* at local time *local* (None: no panic)."""
        if snap.start is None:
            return None
        return max((local + snap.offset - snap.start) / 60.0, JUST_STARTED)

    def now(self, local: float) -> float:
        """Return the breaker's time (local clock plus the Redis offset, if any)."""
        return local + self.snapshot.offset

    # -- outages -----------------------------------------------------------

    def in_backoff(self, mono: float) -> bool:
        """Return whether Redis is considered down and must not be called yet."""
        return mono < self.retry_at

    def store_failed(self, script: str, error: BaseException) -> str:
        """Record a Redis call that failed: log once per outage, back off.

        Returns what went wrong, in words, for the error an operator command raises.
        """
        if self.metrics is not None:
            self.metrics.store_error(script, error)
        problem = describe_store_error(error)
        if self.outage_since is None:
            self.outage_since = self.mono()
            self.backoff = BACKOFF_FIRST
            # A refusal needs someone to fix the configuration: an error, not a warning.
            logger.log(
                logging.ERROR if is_refusal(error) else logging.WARNING,
                "breaker %r: %s; serving the last known state and retrying every %g s at most",
                self.keys.prefix,
                problem,
                BACKOFF_MAX,
            )
        else:
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
            logger.debug("breaker %r: still failing: %s", self.keys.prefix, problem)
        # Counted from when the call gave up, not from when it began: a client
        # that takes longer than the backoff to fail (redis-py's default retries
        # do) must not make every call block on the outage.
        self.retry_at = self.mono() + self.backoff
        if self.metrics is not None:
            self.metrics.store_up(up=False)
        return problem

    def read_hangs(self, seconds: float) -> None:
        """Record a read unanswered for *seconds*: the start of an outage, logged once."""
        if self.outage_since is not None:
            return
        self.outage_since = self.mono()
        logger.warning(
            "breaker %r: Redis has not answered a read for %.1f s; serving the last known "
            "state (a client without socket_timeout waits as long as the server hangs: "
            "connect() sets one)",
            self.keys.prefix,
            seconds,
        )
        if self.metrics is not None:
            self.metrics.store_up(up=False)

    def store_succeeded(self) -> None:
        """Record a Redis round trip that succeeded: end the outage, if any."""
        if self.outage_since is not None:
            logger.warning(
                "breaker %r: Redis answers again, after %.1f s",
                self.keys.prefix,
                max(self.mono() - self.outage_since, 0.0),
            )
            self.outage_since = None
            if self.metrics is not None:
                self.metrics.store_up(up=True)
        self.retry_at = -math.inf

    # -- flows (yield script calls) ----------------------------------------

    def refresh_flow(self, local: float) -> Flow[list[TierTransition]]:
        """Read the shared state; restore a lost start; repair a corrupt one."""
        snap = self.snapshot
        keys = self.keys
        known = snap.raw if snap.start is not None and snap.raw is not None else ""
        reply = yield (
            "read",
            (keys.start, keys.activation, keys.ended),
            (known, snap.activation if snap.activation is not None else "1"),
        )
        raw, activation, restored, seconds, micros = reply
        after = self.clock()
        offset, server = self._offset(local, after, seconds, micros)
        if int(restored):
            logger.warning(
                "panic start %s of breaker %r was missing from Redis with no reset marker "
                "(restart without persistence or eviction): restored",
                _text(raw),
                keys.prefix,
            )
            if self.metrics is not None:
                self.metrics.repair("restored")
        return (yield from self._accept_flow(raw, activation, after, offset, server))

    def trip_flow(self, local: float) -> Flow[list[TierTransition]]:
        """Start a panic unless one is on (first writer wins), resuming a recent one."""
        keys = self.keys
        now_arg = "" if self.time_source is TimeSource.REDIS else encode_ts(self.now(local))
        reply = yield (
            "trip",
            (keys.start, keys.activation, keys.ended),
            (now_arg, repr(self.grace_seconds)),
        )
        raw, activation, started, resumed, seconds, micros = reply
        after = self.clock()
        offset, server = self._offset(local, after, seconds, micros)
        if int(started):
            logger.warning(
                "panic %s for breaker %r at %s",
                "resumed (within the grace window)" if int(resumed) else "started",
                keys.prefix,
                _text(raw),
            )
        return (yield from self._accept_flow(raw, activation, after, offset, server))

    def reset_flow(self, local: float) -> Flow[list[TierTransition]]:
        """End the panic this worker knows of, never a newer one (compare-and-delete)."""
        transitions = yield from self.refresh_flow(local)
        snap = self.snapshot
        if snap.start is None or snap.raw is None:
            return transitions
        keys = self.keys
        now_arg = "" if self.time_source is TimeSource.REDIS else encode_ts(self.now(local))
        marker_ttl = max(END_MARKER_MIN_TTL, math.ceil(self.grace_seconds))
        deleted = yield (
            "reset",
            (keys.start, keys.ended, keys.activation),
            (snap.raw, now_arg, marker_ttl),
        )
        if not int(deleted):
            return transitions
        logger.warning("panic of breaker %r (started %s) reset", keys.prefix, _text(snap.raw))
        self.snapshot = Snapshot.build(None, None, deleted, self.mono(), snap.offset)
        return transitions + (yield from self._transitions_flow(self.now(self.clock())))

    def observe_flow(self, vix: float, local: float) -> Flow[list[TierTransition]]:
        """Feed a reading to the hysteresis: trip high, reset after a calm period."""
        if vix >= self.trip_level:
            self.calm_since = None
        elif vix >= self.reset_level:
            self.calm_since = None  # in the hysteresis band: neither trips nor calms
            return []
        mono = self.mono()
        if self.in_backoff(mono):
            return []
        transitions: list[TierTransition] = []
        if not self.is_fresh(mono):
            transitions = yield from self.refresh_flow(local)
        if vix >= self.trip_level:
            if self.snapshot.start is None:
                transitions += yield from self.trip_flow(local)
            return transitions
        if self.snapshot.start is None:
            self.calm_since = None
            return transitions
        if self.calm_since is None:
            self.calm_since = mono
        if mono - self.calm_since >= self.calm_seconds:
            self.calm_since = None
            transitions += yield from self.reset_flow(local)
        return transitions

    def _offset(
        self, before: float, after: float, seconds: object, micros: object
    ) -> tuple[float, float]:
        """Return the offset to add to the clock, and the server's time (epoch seconds)."""
        server = int(_text(seconds)) + int(_text(micros)) / 1e6
        if self.time_source is not TimeSource.REDIS:
            return 0.0, server
        # The server read TIME somewhere during the round trip: assume the middle.
        return server - (before + after) / 2, server

    def _accept_flow(
        self,
        raw: bytes | str | None,
        activation: bytes | str | None,
        local: float,
        offset: float,
        server: float,
    ) -> Flow[list[TierTransition]]:
        """Adopt a start read from Redis, repairing it first if it is not a plausible time."""
        start: float | None = None
        if raw is not None:
            start = self._parse_start(raw, local + offset, server)
            if start is None:
                known = self.snapshot
                if known.start is not None and known.raw is not None:
                    replacement: bytes | str = known.raw
                    start = known.start
                else:
                    # Somebody meant a panic but its start is unreadable: the
                    # only start this worker can vouch for is now.
                    start = local + offset
                    replacement = encode_ts(start)
                yield ("repair", (self.keys.start,), (raw, replacement))
                if self.metrics is not None:
                    self.metrics.repair("corrupt")
                raw = replacement
        self.snapshot = Snapshot.build(start, raw, activation, self.mono(), offset)
        if self.metrics is not None:
            minutes = self.duration_minutes(self.snapshot, local)
            self.metrics.panic_state(None if minutes is None else minutes * 60.0)
        return (yield from self._transitions_flow(local + offset))

    def _parse_start(self, raw: bytes | str, now: float, server: float) -> float | None:
        """Return the stored start if plausible, else None (after one warning per value).

        Plausible means after 2000, no older than *max_panic_age* and no later
        than now + *max_clock_skew*, where "now" is this worker's clock or
        Redis's ``TIME``, whichever gives the start the benefit of the doubt:
        a host whose own clock is skewed never calls a good start corrupt
        (and so never rewrites it for everyone).
        """
        text = _text(raw)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if (
            math.isfinite(value)
            and value >= EARLIEST_START
            and min(now, server) - self.max_panic_age <= value
            and value <= max(now, server) + self.max_clock_skew
        ):
            return value
        if text not in self.warned:
            if len(self.warned) > 100:
                self.warned.clear()
            self.warned.add(text)
            logger.warning(
                "ignoring the panic start %r of breaker %r: expected epoch seconds after "
                "2000, at most max_panic_age (%g s) old and no later than now + "
                "max_clock_skew (%g s); repairing it",
                text,
                self.keys.prefix,
                self.max_panic_age,
                self.max_clock_skew,
            )
        return None

    def _transitions_flow(self, now: float) -> Flow[list[TierTransition]]:
        """Compare tiers with the last seen ones; elect one deliverer per change in Redis."""
        if self.thresholds is None:
            return []
        snap = self.snapshot
        owner = self.tier_owner
        if snap.start is not None and snap.raw is not None:
            minutes = max((now - snap.start) / 60.0, JUST_STARTED)
            current = (_text(snap.raw), _text(snap.activation))
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
        election = [self.keys.transition(*owner, s.value, to) for s, _, to in changes]
        won = yield ("dedup", election, (TRANSITION_KEY_TTL,))
        start = float(owner[0])
        return [
            TierTransition(before, to, s, round(minutes, 1), now, start)
            for (s, before, to), mine in zip(changes, won, strict=True)
            if int(mine)
        ]

    # -- delivery ----------------------------------------------------------

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
