"""The same decisions from fresh interpreters with different hash seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = r"""
import json
from panicquota import AdaptivePanicQuota
quota = AdaptivePanicQuota(rules={"high": ["UCL", "Final"], "medium": ["Ligue 1", "Derby"]})
cases = [(60, d, c) for d in (0, 5, 29.9999, 30, 35.12345, 90, 200, 10_080)
         for c in (None, "UCL", "Ligue 1 derby", {"league": "Ligue 1", "event": "Cup Final"}, "x")]
out = []
for ttl, duration, context in cases:
    t, mode, meta = quota.calculate_ttl_strategy(ttl, duration, context)
    out.append([t, mode.value, meta["tier"], meta["stakes"].value, meta["panic_duration_minutes"],
                list(meta["thresholds"]), meta["alert"]])
print(json.dumps(out))
"""


def test_decisions_do_not_depend_on_the_hash_seed() -> None:
    """Interpreters started with PYTHONHASHSEED 0, 1 and 4242 return identical decisions."""
    outputs = []
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(result.stdout))
    assert len(outputs[0]) == 40
    assert outputs[0] == outputs[1] == outputs[2]
