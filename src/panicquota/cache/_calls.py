"""How ``cached()`` turns a call of the decorated function into a cache key and a context.

The call is bound to the function's signature (read once, at decoration), with
the defaults applied, so ``odds(7)``, ``odds(match_id=7)`` and
``odds(7, market="1x2")`` (the default) are one key, and a template can name
an argument by position (``{0}``) or by name (``{match_id}``) whichever way the
caller passed it.
"""

from __future__ import annotations

import inspect
import string
from collections.abc import Callable, Iterator
from typing import Any, Final

from panicquota.errors import InvalidArgumentError, InvalidTypeError

__all__ = ["CallKeys"]

_P = inspect.Parameter
_POSITIONAL: Final = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)


def _name(func: Any) -> str:
    return str(getattr(func, "__qualname__", None) or type(func).__qualname__)


def _signature(what: str, func: Any) -> inspect.Signature:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError) as error:
        raise InvalidTypeError(
            f"{what} must be a function whose signature inspect can read, got {func!r} "
            f"({error}); wrap it in a def"
        ) from None


def _describe(func: Any, signature: inspect.Signature) -> str:
    """Return ``name(parameters)`` without annotations: ``odds(match_id, market='1x2')``."""
    plain = signature.replace(
        parameters=[p.replace(annotation=_P.empty) for p in signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )
    return f"{_name(func)}{plain}"


def _top_fields(template: str, counter: list[int], numbering: set[str]) -> Iterator[int | str]:
    """Yield the argument each replacement field of *template* looks up: an index or a name."""
    for _, field, spec, _ in string.Formatter().parse(template):
        if field is None:
            continue
        first = field
        for stop in ".[":
            first = first.partition(stop)[0]
        if first == "":
            numbering.add("automatic")
            yield counter[0]
            counter[0] += 1
        elif first.isdigit():
            numbering.add("manual")
            yield int(first)
        else:
            yield first
        if spec:
            yield from _top_fields(spec, counter, numbering)


def _template_fields(template: str) -> tuple[int | str, ...]:
    numbering: set[str] = set()
    try:
        fields = tuple(_top_fields(template, [0], numbering))
    except ValueError as error:
        raise InvalidArgumentError(f"key {template!r} is not a format string ({error})") from None
    if len(numbering) > 1:
        raise InvalidArgumentError(
            f"key {template!r} is not a format string (it mixes automatic fields {{}} "
            "with numbered ones such as {0})"
        )
    return fields


def _readable_signature(spec: Any) -> inspect.Signature | None:
    if not callable(spec):
        return None
    try:
        return inspect.signature(spec)
    except (TypeError, ValueError):
        return None


def _show(field: int | str) -> str:
    return f"{{{field}}}"


class CallKeys:
    """The key and the context of each call of one decorated function.

    Args:
        key: a format string, a callable taking the call's arguments, or ``None``.
        context: a value, or a callable taking the call's arguments.
        func: the decorated function.

    Raises:
        InvalidArgumentError: a template that is no format string, or that
            names an argument *func* does not take.
        InvalidTypeError: *func*'s signature cannot be read.
    """

    def __init__(self, key: str | Callable[..., str] | None, context: Any, func: Any) -> None:
        self.func = func
        self.signature = _signature("the function given to cached()", func)
        self.described = _describe(func, self.signature)
        self.parameters: tuple[tuple[str, Any], ...] = tuple(
            (p.name, p.kind) for p in self.signature.parameters.values()
        )
        kinds = {kind for _, kind in self.parameters}
        self.template = key if isinstance(key, str) else None
        self.key_callable = key if callable(key) else None
        self.context = context
        self.fields: tuple[int | str, ...] = ()
        if self.template is not None:
            self.fields = _template_fields(self.template)
            names = {name for name, _ in self.parameters}
            positional = sum(kind in _POSITIONAL for _, kind in self.parameters)
            for field in self.fields:
                if isinstance(field, int):
                    known = field < positional or _P.VAR_POSITIONAL in kinds
                else:
                    known = field in names or _P.VAR_KEYWORD in kinds
                if not known:
                    raise InvalidArgumentError(
                        f"key {self.template!r} names the argument {_show(field)}, "
                        f"which {self.described} does not take"
                    )
        # Read now: a key or context callable that cannot take a call's arguments is
        # told apart from one that raised TypeError itself.
        self._key_signature = _readable_signature(self.key_callable)
        self._context_signature = _readable_signature(context)

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Return every parameter's value in this call, defaults included.

        Raises:
            TypeError: the call does not fit the function's signature.
        """
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{_name(self.func)}(): {error}") from None
        bound.apply_defaults()
        return bound.arguments

    def key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Return the cache key of the call ``func(*args, **kwargs)``."""
        arguments = self.arguments(args, kwargs)
        if self.template is not None:
            return self._format(self.template, arguments)
        if self.key_callable is not None:
            made = self._call("key", self.key_callable, self._key_signature, args, kwargs)
            if not isinstance(made, str):
                raise InvalidTypeError(f"key must be a str, got {type(made).__name__} {made!r}")
            return made
        parts: list[str] = []
        for name, kind in self.parameters:
            value = arguments[name]
            if kind in _POSITIONAL:
                parts.append(repr(value))
            elif kind is _P.VAR_POSITIONAL:
                parts.extend(repr(item) for item in value)
            elif kind is _P.KEYWORD_ONLY:
                parts.append(f"{name}={value!r}")
            else:
                parts.extend(f"{k}={v!r}" for k, v in sorted(value.items()))
        module = getattr(self.func, "__module__", None)
        return f"{module}.{_name(self.func)}({', '.join(parts)})"

    def context_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Return the breaker's context for the call ``func(*args, **kwargs)``."""
        if callable(self.context):
            return self._call("context", self.context, self._context_signature, args, kwargs)
        return self.context

    def _format(self, template: str, arguments: dict[str, Any]) -> str:
        positional: list[Any] = []
        named: dict[str, Any] = {}
        for name, kind in self.parameters:
            value = arguments[name]
            named[name] = value
            if kind in _POSITIONAL:
                positional.append(value)
            elif kind is _P.VAR_POSITIONAL:
                positional.extend(value)
            elif kind is _P.VAR_KEYWORD:
                for extra, item in value.items():
                    named.setdefault(extra, item)
        try:
            return template.format(*positional, **named)
        except (IndexError, KeyError):
            for field in self.fields:
                missing = field >= len(positional) if isinstance(field, int) else field not in named
                if missing:
                    raise InvalidArgumentError(
                        f"key {template!r} names the argument {_show(field)}, which this call "
                        f"of {self.described} did not pass"
                    ) from None
            raise  # a lookup inside an argument ({0[home]}): the value's own error

    def _call(
        self,
        what: str,
        spec: Callable[..., Any],
        signature: inspect.Signature | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        try:
            return spec(*args, **kwargs)
        except TypeError as error:
            if signature is None:
                raise
            try:
                signature.bind(*args, **kwargs)
            except TypeError as misfit:
                call = ", ".join(
                    [repr(arg) for arg in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
                )
                raise InvalidArgumentError(
                    f"{what}={_describe(spec, signature)} cannot take the arguments of the call "
                    f"{_name(self.func)}({call}) ({misfit}); it is called with the decorated "
                    "function's arguments"
                ) from error
            raise
