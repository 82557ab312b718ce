"""``python -m panicquota``."""

from panicquota.cli import run

run()
