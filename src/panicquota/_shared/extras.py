"""Optional dependencies: which extra installs a module, and the one-line hint when it is missing.

The wheel requires only what the breaker needs at run time (redis-py); the
command line, the plugin's fake Redis, Hypothesis, Prometheus and matplotlib
come with extras.
"""

from __future__ import annotations

import importlib.util

from panicquota.errors import MissingExtraError

__all__ = ["EXTRA_OF", "hint", "missing_extra_hint", "require"]

#: The top-level module -> the extra of ``pip install 'panicquota[EXTRA]'`` that installs it.
EXTRA_OF = {
    "rich": "cli",
    "fakeredis": "cli",
    "lupa": "cli",
    "hypothesis": "testing",
    "prometheus_client": "metrics",
    "matplotlib": "plot",
}


def hint(feature: str, extra: str, missing: list[str]) -> str:
    """Return the one line saying what is missing for ``feature`` and what to install."""
    verb = "is" if len(missing) == 1 else "are"
    return (
        f"{feature} needs {' and '.join(missing)}, which {verb} not installed: "
        f"pip install 'panicquota[{extra}]'"
    )


def require(feature: str, extra: str, *modules: str) -> None:
    """Raise unless every module is importable (without importing it).

    Raises:
        MissingExtraError: a module is not installed; the message names the
            ``pip install`` to run.
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(hint(feature, extra, missing))


def missing_extra_hint(feature: str, error: ModuleNotFoundError) -> str | None:
    """Return the hint for a failed import of an optional dependency, ``None`` for any other."""
    root = (error.name or "").partition(".")[0]
    extra = EXTRA_OF.get(root)
    return None if extra is None else hint(feature, extra, [root])
