"""Reading TOML files with errors that name the file."""

from __future__ import annotations

import tomllib
from os import PathLike
from pathlib import Path
from typing import Any

from panicquota.errors import PanicquotaError


def read_toml(
    path: str | PathLike[str], error: type[PanicquotaError], what: str
) -> tuple[Path, dict[str, Any]]:
    """Return *path* as a :class:`Path` and its parsed TOML document.

    Args:
        path: the file to read.
        error: the exception to raise, with the file name first in its message.
        what: what the file is, for the message of a missing file ("configuration").

    Raises:
        error: the file is missing, unreadable or not valid TOML.
    """
    file = Path(path)
    try:
        return file, tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{file}: no such {what} file") from None
    except OSError as failure:
        raise error(f"{file}: cannot read it: {failure.strerror}") from None
    except tomllib.TOMLDecodeError as failure:
        raise error(f"{file}: not valid TOML: {failure}") from None
