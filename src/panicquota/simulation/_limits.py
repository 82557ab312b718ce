"""The simulator's limits, apart from the simulator: the CLI shows them in its help.

Standard library only: :mod:`panicquota.simulation` imports its modules on first
use, so building the command-line parser (every ``panicquota`` command does)
reads these without importing the simulator and :mod:`multiprocessing`.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_MAX_SPEED", "DEFAULT_MIN_WALL_SECONDS", "MAX_WORKERS"]

#: The most workers a scenario may have: each is a breaker deciding every
#: simulated second (a process of its own in the real mode); past a few dozen
#: more workers say nothing new about agreement or load.
MAX_WORKERS: Final = 64
#: The most simulated seconds per wall second a real run plays unless told otherwise.
DEFAULT_MAX_SPEED: Final = 600.0
#: The shortest default real run, in wall seconds (enough to measure a decision rate).
DEFAULT_MIN_WALL_SECONDS: Final = 10.0
