"""Decision metadata extended by callers, and its value semantics."""

from __future__ import annotations

import pickle

from panicquota import AdaptivePanicQuota, FrozenMeta, with_meta


def test_with_meta_adds_items_lazily() -> None:
    """with_meta lays extra items over the policy's metadata without changing it."""
    decision = AdaptivePanicQuota().calculate_ttl_strategy(60, 35.0, "Ligue 1")
    extended = with_meta(decision, {"source": "cached", "tier": 99})
    ttl, mode, meta = extended
    assert (ttl, mode) == decision[:2]
    assert meta["source"] == "cached"
    assert meta["tier"] == 99  # an extra item replaces the base one
    assert meta["stakes"] == "medium_stakes"
    assert list(meta) == [*decision[2], "source"]
    assert len(meta) == 9
    assert decision[2]["tier"] == 2
    assert "source" in repr(meta)


def test_extended_meta_pickles_as_plain_items() -> None:
    """Extended metadata pickles to a FrozenMeta with the same items and hash."""
    decision = with_meta(AdaptivePanicQuota().calculate_ttl_strategy(60, 5, None), {"x": 1})
    clone = pickle.loads(pickle.dumps(decision))
    assert isinstance(clone[2], FrozenMeta)
    assert clone == decision
    assert hash(clone[2]) == hash(decision[2])
    assert pickle.loads(pickle.dumps(clone)) == clone
    assert repr(clone[2]).startswith("FrozenMeta({'tier': 1")
    assert len(clone[2]) == 9


def test_extending_frozen_meta() -> None:
    """Metadata that came through a pickle can be extended again."""
    decision = pickle.loads(pickle.dumps(AdaptivePanicQuota().calculate_ttl_strategy(60, 0, None)))
    assert with_meta(decision, {"source": "fresh"})[2]["source"] == "fresh"
