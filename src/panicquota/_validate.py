"""Argument checks shared by the policy, the breaker and the configuration."""

from __future__ import annotations

import sys

from panicquota.errors import InvalidArgumentError, InvalidTypeError


def require_number(
    name: str | None, value: object, *, accepted: str = "a finite number >= 0"
) -> float:
    """Return *value* if it is a finite, non-negative real number, else raise.

    The message reads ``"<name> must be <accepted>, got ..."``; with *name*
    ``None`` it starts at ``"must"`` (for an error that names its key itself).

    Raises:
        InvalidTypeError: *value* is not an ``int`` or ``float`` (``bool`` is refused
            too: ``True`` minutes is always a bug).
        InvalidArgumentError: *value* is negative, NaN or infinite, or an ``int``
            too large to have a ``float`` value (above ``sys.float_info.max``).
    """
    subject = "" if name is None else f"{name} "
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTypeError(f"{subject}must be {accepted}, got {type(value).__name__} {value!r}")
    if not (0 <= value <= sys.float_info.max):  # also false for NaN and infinities
        raise InvalidArgumentError(f"{subject}must be {accepted}, got {value!r}")
    return value
