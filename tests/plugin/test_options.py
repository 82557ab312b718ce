"""The plugin's command-line options, ini key and markers."""

from __future__ import annotations

import pytest

HELP_BLOCK = [
    "panicquota: fixtures, checks and certification:",
    "  --panicquota-redis-url=URL",
    "                        run panic_redis on this real Redis server, each test's",
    "                        keys removed after it (default: $PANICQUOTA_REDIS_URL,",
    "                        else a fresh fakeredis per test)",
    "  --panicquota-certify  run the certification suite against --panicquota-target",
    "                        instead of the tests",
    "  --panicquota-target=MODULE:ATTR",
    "                        the policy to certify: an object with",
    "                        calculate_ttl_strategy, a class or a zero-argument",
    "                        factory",
    "  --panicquota-report=PATH",
    "                        write the certification report to PATH as JSON",
    "  --panicquota-p99-ms=MS",
    "                        the certification's latency budget: p99 of one decision",
    "                        in ms (default: 1.0)",
]


def test_help_block_is_pinned(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pytest --help`` shows the plugin's option group exactly like this."""
    monkeypatch.setenv("COLUMNS", "80")
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(HELP_BLOCK, consecutive=True)
    result.stdout.fnmatch_lines(
        [
            "  panicquota_redis_url (string):",
            "                        the real Redis server panic_redis uses (the option and",
            "                        the environment win)",
        ]
    )


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    """``pytest --markers`` lists the plugin's markers with their descriptions."""
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.panic_latency(p99_ms=1.0, samples=1000): run the test body *",
            "@pytest.mark.panic_no_leak(batch=200, batches=5): run the test body *",
        ]
    )


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    """``pytest --fixtures`` shows every public fixture with its docstring."""
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines_random(
        [
            "panic_redis -- *",
            "panic_clock -- *",
            "panic_quota -- *",
            "panic_breaker -- *",
            "panic_workers -- *",
            "panic_key_prefix -- *",
            "panic_isolated ?session scope? -- *",
        ]
    )
