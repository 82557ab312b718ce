"""Cache-Control for a served result: a proxy in front keeps it no longer than the cache would."""

from __future__ import annotations

import pytest

from panicquota import InvalidArgumentError, InvalidTypeError
from panicquota.cache import CacheSource
from panicquota.clock import ManualClock
from pytest_panicquota import Upstream

from .conftest import Make


def test_a_hit_gets_what_is_left_of_its_ttl(make: Make, clock: ManualClock) -> None:
    """A 4-s-old HIT in tier 2 (TTL 5) may be kept 1 s more, not 5; 4.5 s old, not at all."""
    view = make(stale_if_error=30)
    view.trip()
    clock.advance(minutes=16)
    upstream = Upstream()
    assert view.lookup("k", upstream).source is CacheSource.MISS
    clock.advance(seconds=4)
    hit = view.lookup("k", upstream)
    assert (hit.source, hit.age, hit.decision[0]) == (CacheSource.HIT, 4.0, 5.0)
    assert view.cache_control(result=hit) == "max-age=1, stale-if-error=25"
    assert view.cache_control(result=hit, stale_while_revalidate=10) == (
        "max-age=1, stale-while-revalidate=10, stale-if-error=25"
    )
    assert view.cache_control() == "max-age=5, stale-if-error=25"  # a value fetched now
    clock.advance(seconds=0.5)
    later = view.lookup("k", upstream)
    assert (later.source, later.age) == (CacheSource.HIT, 4.5)
    assert view.cache_control(result=later) == "max-age=0, stale-if-error=25"


def test_normal_hits_misses_and_stale_answers(make: Make, clock: ManualClock) -> None:
    """max-age = ttl - age; stale-if-error counts after max-age, to the cache's own bound."""
    view = make(stale_if_error=120)
    upstream = Upstream()
    miss = view.lookup("k", upstream)
    assert view.cache_control(result=miss) == "max-age=60, stale-if-error=60"
    clock.advance(seconds=30.7)
    hit = view.lookup("k", upstream)
    assert hit.source is CacheSource.HIT
    assert view.cache_control(result=hit) == "max-age=29, stale-if-error=60"
    clock.advance(seconds=69.3)
    upstream.fail()
    stale = view.lookup("k", upstream)
    assert (stale.source, stale.age) == (CacheSource.STALE, 100.0)
    # Past its TTL: nothing fresh left, and 20 s of the stale window.
    assert view.cache_control(result=stale) == "max-age=0, stale-if-error=20"
    assert make(normal_ttl=60, stale_if_error=40).cache_control(result=hit) == "max-age=29"


@pytest.mark.parametrize("store_kind", ["memory"], indirect=True)
def test_a_result_is_checked(make: Make) -> None:
    """result must be a CacheResult, and comes without a context (it carries its decision)."""
    view = make()
    result = view.lookup("k", Upstream())
    with pytest.raises(InvalidArgumentError) as raised:
        view.cache_control({"league": "Ligue 1"}, result=result)
    assert str(raised.value) == (
        "pass context or result to cache_control(), not both: a result carries the decision "
        "it was served by, got context {'league': 'Ligue 1'}"
    )
    with pytest.raises(InvalidTypeError) as raised:
        view.cache_control(result="max-age=60")
    assert str(raised.value) == ("result must be the CacheResult of lookup(), got str 'max-age=60'")
