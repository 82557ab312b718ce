"""`import panicquota.cache` and a memory cache need only the standard library."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, sys
before = set(sys.modules)
from panicquota.cache import MemoryStore, PanicCache
from panicquota import AdaptivePanicQuota

class Policy:
    def get_ttl(self, normal_ttl, context=None):
        return AdaptivePanicQuota().calculate_ttl_strategy(normal_ttl, None, context)

cache = PanicCache(Policy(), MemoryStore(), normal_ttl=60)
assert cache.get_or_fetch("k", lambda: "v") == "v"
assert cache.lookup("k", lambda: "w").source.value == "HIT"
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_cache_with_a_memory_store_loads_only_the_standard_library() -> None:
    """Importing the cache and serving from memory loads no redis, prometheus or breaker."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    top_level = {name.partition(".")[0] for name in loaded}
    assert sorted(top_level - set(sys.stdlib_module_names) - {"panicquota"}) == []
    assert "panicquota.breaker" not in loaded
