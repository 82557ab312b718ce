"""Reading TOML files with errors that name the file."""

from __future__ import annotations

import tomllib
from os import PathLike
from pathlib import Path
from typing import Any

from panicquota.errors import ConfigError


def read_toml(
    path: str | PathLike[str], error: type[ConfigError], what: str
) -> tuple[Path, dict[str, Any]]:
    """Return *path* as a :class:`Path` and its parsed TOML document.

    Args:
        path: the file to read.
        error: the exception to raise, with ``source`` set to the file.
        what: what the file is, for the message of a missing file ("configuration").

    Raises:
        error: the file is missing, unreadable, not UTF-8 or not valid TOML.
    """
    file = Path(path)
    source = str(file)
    try:
        return file, tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"no such {what} file", source=source) from None
    except OSError as failure:
        raise error(f"cannot read it: {failure.strerror}", source=source) from None
    except UnicodeDecodeError as failure:
        raise error(
            f"not UTF-8 text (byte {failure.object[failure.start]:#04x} at offset "
            f"{failure.start}); TOML files must be UTF-8",
            source=source,
        ) from None
    except tomllib.TOMLDecodeError as failure:
        raise error(f"not valid TOML: {failure}", source=source) from None
    except ValueError:  # os functions refuse a path with a NUL character
        raise error(
            f"cannot read it: the path {source!r} contains a NUL character", source=source
        ) from None
