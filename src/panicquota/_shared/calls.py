"""Calls of a user's callable, as the certification suite and the plugin both handle them.

How a callable and a call are named in messages, and which modules a callable
lives in, so that another interpreter (a fresh one, a worker process) can load
them by name or from their file.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Call", "load_modules", "modules_of", "name_of", "show_call"]

#: One call: positional and keyword arguments.
Call = tuple[tuple[Any, ...], dict[str, Any]]


def name_of(fn: Callable[..., Any]) -> str:
    """Return how a message names *fn* (``Class.method``, ``function``, ``<lambda>``)."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return str(name).rpartition("<locals>.")[2]


def show_call(call: Call) -> str:
    """Return a call's arguments as they would be written: ``60, 35.0, mode='x'``."""
    args, kwargs = call
    return ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])


def modules_of(fn: Callable[..., Any]) -> dict[str, str]:
    """Return ``{module name: file}`` for the modules *fn* and its instance are defined in."""
    owners = {getattr(fn, "__module__", None)}
    bound_to = getattr(fn, "__self__", None)
    if bound_to is not None:
        owners.add(type(bound_to).__module__)
    found: dict[str, str] = {}
    for name in owners:
        module = sys.modules.get(name) if name else None
        path = getattr(module, "__file__", None)
        if name and path and name != "__main__":
            found[name] = path
    return found


def load_modules(modules: Mapping[str, str]) -> None:
    """Import each module by name, or from its file when the name is not importable."""
    for name, path in modules.items():
        try:
            importlib.import_module(name)
        except ImportError:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
