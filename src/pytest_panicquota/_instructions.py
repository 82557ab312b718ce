"""The ``panic_instructions`` marker: count a callable's instructions per call under valgrind.

A marked test runs as usual (its body can check what the target returns),
then the marker's target is counted in fresh interpreters (see
:mod:`panicquota._shared.instructions`). ``--panicquota-instructions=PATH`` writes
every count of the run to PATH, the file ``panicquota bench-compare`` gates
against a committed baseline. Counts travel in the reports' user properties,
so they reach the file under pytest-xdist too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from panicquota._shared.instructions import InstructionCount

MARKER = (
    "panic_instructions(target, setup=None, calls=1000, warmup=100, env=None): after the test "
    "body, count "
    "the instructions one call of target ('module:qualname', with the positional arguments the "
    "set-up 'module:qualname' returns) costs net of an empty call, under valgrind"
)
_PROPERTY = "panicquota_instructions"


def add_options(group: Any) -> None:
    """Add the counting option to the plugin's option group."""
    group.addoption(
        "--panicquota-instructions",
        dest="panicquota_instructions",
        metavar="PATH",
        default=None,
        help="write the counts of tests marked panic_instructions to PATH as JSON (the file "
        "'panicquota bench-compare' gates); without valgrind such tests then fail instead of "
        "skipping",
    )


class InstructionsPlugin:
    """Run marked tests' counts; collect them from every report; write them at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.counts: list[InstructionCount] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        """Run the body of a marked test, then count its marker's target."""
        marker = pyfuncitem.get_closest_marker("panic_instructions")
        if marker is None:
            return None
        from panicquota._shared.instructions import Count, ValgrindMissingError, count

        names = pyfuncitem._fixtureinfo.argnames
        pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names})
        options = {"calls": 1000, "warmup": 100, **marker.kwargs}
        if marker.args:
            options["target"] = marker.args[0]
        if "target" not in options:
            pytest.fail(
                "panic_instructions needs the callable to count: "
                "@pytest.mark.panic_instructions('module:qualname', setup=..., calls=...)",
                pytrace=False,
            )
        folders = (str(pyfuncitem.path.parent), str(self.config.rootpath))
        # The child's environment is kept minimal (see panicquota._shared.instructions._child_env).
        env = options.pop("env", None)
        spec = Count(**options, path=tuple(dict.fromkeys(folders)))
        missing: str | None
        try:
            result = count(spec, pyfuncitem.nodeid, env=env)
        except ValgrindMissingError as error:
            missing = str(error)
        else:
            missing = None
        if missing is not None:
            # Counts asked for (or CI): a skip would let the gate pass unseen.
            if self.config.getoption("panicquota_instructions") or os.environ.get("CI"):
                pytest.fail(missing, pytrace=False)
            pytest.skip(missing)
        from dataclasses import asdict

        pyfuncitem.user_properties.append((_PROPERTY, asdict(result)))
        return True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect a count from the report that carries it (also an xdist worker's)."""
        if report.when != "call":
            return
        from panicquota._shared.instructions import InstructionCount

        for key, value in report.user_properties:
            if key == _PROPERTY:
                self.counts.append(InstructionCount(**cast("dict[str, Any]", value)))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print the counts and write them to the file asked for."""
        if not self.counts:
            return
        terminalreporter.section("panicquota instructions per call, net of an empty call")
        width = max(len(c.name) for c in self.counts)
        for c in sorted(self.counts, key=lambda c: c.name):
            terminalreporter.write_line(
                f"{c.name:<{width}} {c.instructions:>12,.1f}  (call {c.gross:,.1f}, "
                f"empty call {c.empty:,.1f}, {c.calls:,} calls)"
            )
        path = self.config.getoption("panicquota_instructions")
        if path and not hasattr(self.config, "workerinput"):
            from panicquota._shared.instructions import environment, write_counts

            write_counts(path, self.counts, environment())
            terminalreporter.write_line(f"counts written to {path}")
