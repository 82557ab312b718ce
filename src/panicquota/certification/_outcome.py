"""What one check or certification criterion found: a verdict, a sentence, its figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Outcome"]


@dataclass(frozen=True)
class Outcome:
    """The verdict of one check.

    Attributes:
        passed: whether the check held.
        message: one sentence that names the measured figure and the budget.
        figures: the measured numbers, JSON-serialisable, for reports.
    """

    passed: bool
    message: str
    figures: Mapping[str, Any] = field(default_factory=dict)
