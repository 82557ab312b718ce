"""``python -m panicquota``."""

from panicquota.cli import main

raise SystemExit(main())
