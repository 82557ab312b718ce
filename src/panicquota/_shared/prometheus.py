"""What the breaker's and the cache's Prometheus metrics share (the optional ``metrics`` extra).

prometheus_client refuses a second collector of one name in a registry, so
each owner's collectors are created once per registry and shared by every
metrics object over it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from panicquota.errors import MissingExtraError

__all__ = ["collectors"]

#: (owner, id(registry)) -> (registry, *collectors); the registry is kept to detect a reused id.
_CREATED: dict[tuple[str, int], tuple[Any, ...]] = {}


def _prometheus(owner: str) -> Any:
    try:
        import prometheus_client
    except ImportError as error:
        raise MissingExtraError(
            f"{owner} metrics need prometheus_client, which is not installed: "
            "pip install 'panicquota[metrics]'"
        ) from error
    return prometheus_client


def collectors(
    owner: str, registry: Any, create: Callable[[Any, Any], tuple[Any, ...]]
) -> tuple[Any, ...]:
    """Return *owner*'s collectors on *registry* (``None``: the default one), made once.

    Args:
        owner: who the collectors are for (``"breaker"``, ``"cache"``), named in the error.
        registry: a prometheus_client ``CollectorRegistry``, or ``None``.
        create: ``create(prometheus_client, registry)`` makes the collectors.

    Raises:
        MissingExtraError: prometheus_client is not installed.
    """
    prom = _prometheus(owner)
    registry = prom.REGISTRY if registry is None else registry
    key = (owner, id(registry))
    created = _CREATED.get(key)
    if created is None or created[0] is not registry:
        created = (registry, *create(prom, registry))
        _CREATED[key] = created
    return created[1:]
