"""The purity check: calls change neither their arguments, nor the instance, nor its class.

Returns an :class:`Outcome` rather than raising, so the plugin can turn it into
a test failure and the certification into a report row. Callables are called
as ``fn(*args, **kwargs)`` for each call of *calls*.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Any

from panicquota._shared.calls import Call, name_of, show_call
from panicquota._shared.state import class_state, describe_change, snapshot
from panicquota.certification._outcome import Outcome
from panicquota.certification._running import outcome_of

__all__ = ["check_pure"]


def check_pure(
    fn: Callable[..., Any], calls: Sequence[Call], *, instance: object = None, repeats: int = 2
) -> Outcome:
    """Check that calls change neither their arguments nor the instance, nor its class.

    What counts as state, compared before and after every call:

    - each argument, deeply (nested mappings and lists too);
    - the instance, by its pickle when it pickles (what it declares as its
      state, so a cache it leaves out of its pickle does not count), else by
      a walk of its attributes;
    - the data attributes of its classes (see :func:`class_state`): a counter
      or a cache kept on the class is state shared by every instance.

    Args:
        fn: the callable.
        calls: the calls to make; each one's arguments are snapshotted.
        instance: the object whose state must stay unchanged (default: the
            instance a bound method is bound to).
        repeats: how often each call is made.
    """
    name = name_of(fn)
    owner = instance if instance is not None else getattr(fn, "__self__", None)
    if isinstance(owner, types.ModuleType):  # a built-in function's __self__ is its module
        owner = None
    owner_before = snapshot(owner) if owner is not None else None
    class_before = _class_snapshot(owner)
    cells_before = _cells_snapshot(fn)
    for call in calls:
        args, kwargs = call
        shown = show_call(call)  # before the calls: they may change the arguments
        values = (*args, *kwargs.values())
        before = [snapshot(value) for value in values]
        for _ in range(repeats):
            outcome_of(fn, call)
        labels = [f"argument {i + 1}" for i in range(len(args))] + [
            f"argument {k!r}" for k in kwargs
        ]
        # What may have changed, in the order a reader would look: the
        # arguments, what the function closes over, the instance, its class.
        changes: list[tuple[str, str, str | None, str]] = [
            (label, f"its {label}", describe_change(old, snapshot(value)), "their arguments")
            for label, old, value in zip(labels, before, values, strict=True)
        ]
        changes.append(
            (
                "closure",
                "a variable it closes over",
                _keyed_change(
                    cells_before, _cells_snapshot(fn), show=repr, removed="unbound", added="bound"
                ),
                "captured state",
            )
        )
        if owner is not None:
            changes += [
                (
                    "instance",
                    f"its instance {type(owner).__name__}",
                    describe_change(owner_before, snapshot(owner)),
                    "the instance",
                ),
                (
                    "class",
                    "a class attribute",
                    _keyed_change(class_before, _class_snapshot(owner)),
                    "the class",
                ),
            ]
        for changed, what, change, kept in changes:
            if change is not None:
                return Outcome(
                    False,
                    f"{name}({shown}) changed {what} ({change}); calls must leave {kept} unchanged",
                    {"changed": changed, "differing_call": shown},
                )
    return Outcome(
        True,
        f"{len(calls)} calls x {repeats} left their arguments"
        f"{' and the instance and its class' if owner is not None else ''} unchanged",
        {"calls": len(calls), "repeats": repeats},
    )


def _class_snapshot(owner: object) -> dict[str, Any]:
    if owner is None:
        return {}
    return {key: snapshot(value) for key, value in class_state(owner).items()}


def _keyed_change(
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    show: Callable[[str], str] = str,
    removed: str = "deleted",
    added: str = "added",
) -> str | None:
    """Return the first change between two ``{name: snapshot}`` maps, or None."""
    for key in [*before, *(k for k in after if k not in before)]:
        if key not in after:
            return f"{show(key)} was {removed}"
        if key not in before:
            return f"{show(key)} was {added}"
        change = describe_change(before[key], after[key], key)
        if change is not None:
            return change
    return None


def _cells_snapshot(fn: Callable[..., Any]) -> dict[str, Any]:
    """Snapshot the variables a closure captured (a counter, a cache): state like any other."""
    closure = getattr(fn, "__closure__", None)
    code = getattr(fn, "__code__", None)
    if not closure or code is None:
        return {}
    snap: dict[str, Any] = {}
    for variable, cell in zip(code.co_freevars, closure, strict=True):
        try:
            snap[variable] = snapshot(cell.cell_contents)
        except ValueError:  # an empty cell: the variable is not bound yet
            continue
    return snap
