"""Load the policy a certification run is about from a ``module:attr`` spec."""

from __future__ import annotations

import importlib
from typing import Any

from panicquota.errors import InvalidArgumentError, InvalidTypeError

__all__ = ["load_target"]


def load_target(spec: str) -> Any:
    """Return the policy named by *spec* (``"package.module:attr"``).

    *attr* may be a policy object, a class (instantiated without arguments) or
    a zero-argument factory; dotted attributes (``module:Class.build``) work.

    Raises:
        InvalidArgumentError: *spec* is not ``module:attr``, the module or
            attribute cannot be found, or importing it or calling the
            factory raised.
        InvalidTypeError: what *spec* names has no ``calculate_ttl_strategy``.
    """
    module_name, colon, attr_path = spec.partition(":")
    if not colon or not module_name or not attr_path:
        raise InvalidArgumentError(f"the target must look like 'package.module:attr', got {spec!r}")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise InvalidArgumentError(
            f"cannot import the target's module {module_name!r} ({error}); "
            "check the name and that it is on sys.path"
        ) from None
    except Exception as error:  # the module's own code failed: say so, in one line
        raise InvalidArgumentError(
            f"importing the target's module {module_name!r} raised {type(error).__name__}: {error}"
        ) from error
    for name in attr_path.split("."):
        try:
            value = getattr(value, name)
        except AttributeError:
            raise InvalidArgumentError(
                f"the target {spec!r} names no attribute {name!r} in {module_name!r}"
            ) from None
    if isinstance(value, type) or (
        callable(value) and not hasattr(value, "calculate_ttl_strategy")
    ):
        try:
            value = value()
        except Exception as error:  # the user's factory failed: name it and the error
            raise InvalidArgumentError(
                f"calling the target {spec!r} to build the policy raised "
                f"{type(error).__name__}: {error}"
            ) from error
    if not callable(getattr(value, "calculate_ttl_strategy", None)):
        raise InvalidTypeError(
            f"the target {spec!r} must be a policy object with calculate_ttl_strategy, a class "
            f"or a zero-argument factory of one, got {type(value).__name__} {value!r}"
        )
    return value
