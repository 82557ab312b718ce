"""Which keys a test wrote to a shared Redis, and how to put them back.

Before a process's first write to a key, the state the key had (``DUMP`` and
the absolute ``PEXPIRETIME``, or "absent") is saved on the server itself, in a hash under the
test's prefix, by a script that saves it only if no process saved it first.
Every write follows its writer's attempt to save, so the first saved state is
the key's state before any write, whichever of the test's processes (the test,
its workers, a worker that crashed) got there first. After the test, keys that
were absent are deleted and the others restored (``RESTORE ... ABSTTL``: a key
whose saved expiry time has passed meanwhile is deleted, as it would have
expired), so keys already on the server end the test as they began. Keys
under the test's own unique prefix could not exist before: they are not
saved, the prefix is deleted as a whole.

Nothing else on the server is touched: no ``FLUSHDB``, no ``KEYS``; the only
scan is of the test's own unique prefix. Commands whose writes the journal
cannot follow (another database, ``MIGRATE``, server-wide functions) are refused.

Scripts are journaled through their ``KEYS``: a script that builds a key name
itself, or calls ``FLUSHDB``, escapes the journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from panicquota.errors import PanicquotaError
from pytest_panicquota._journal_commands import named, written_keys
from pytest_panicquota._journal_servers import server

__all__ = ["KeyJournal", "RestoreError"]


class RestoreError(PanicquotaError, RuntimeError):
    """The test's writes to a shared server could not all be undone after it."""


class KeyJournal:
    """Where the processes of one test save the first state of each key they write.

    Args:
        prefix: the test's unique key prefix; the saved states live in the
            hash ``{prefix}:panic-journal``.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.record_key = f"{prefix}:panic-journal"
        self._own = f"{prefix}:".encode()
        #: Whether the last :meth:`restore` read the journal (so tried every key).
        self.read = False
        #: Keys this process saw already: each is saved once per process.
        self.seen: set[bytes] = set()

    def before_command(self, client: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Journal what the command *args* is about to write; return *args* ready to send.

        *client* is a tracked sync client of the server (for an async client,
        its sync twin): it finds the written keys and saves their first state.
        """
        args = named(args)
        self.before_write(client, written_keys(client, args))
        return args

    def before_write(self, client: Any, keys: Iterable[bytes]) -> None:
        """Save what each key not seen yet holds, unless another process saved it first."""
        for key in keys:
            if key in self.seen:
                continue
            if not key.startswith(self._own):
                server(client).save_first_state(keys=[self.record_key, key])
            self.seen.add(key)

    def restore(self, client: Any) -> list[str]:
        """Delete the keys that were absent and put back the ones that existed.

        Returns:
            What could not be undone, one phrase per key: every key is tried,
            whatever happened to the others.
        """
        untracked = server(client).untracked
        self.read = False
        try:
            saved = untracked.hgetall(self.record_key)
            seconds, micros = untracked.time()
        except Exception as error:  # nothing to restore from: say so with the rest
            return [f"reading the journal {self.record_key!r} ({type(error).__name__}: {error})"]
        self.read = True
        now = int(seconds) * 1000 + int(micros) // 1000
        problems = []
        for key, state in saved.items():
            try:
                at, _, payload = state.partition(b":")
                if state == b"" or 0 <= int(at) <= now:
                    # Absent before, or its saved expiry time has passed.
                    untracked.delete(key)
                elif int(at) < 0:
                    untracked.restore(key, 0, payload, replace=True)
                else:  # a time passed meanwhile makes RESTORE delete the key
                    untracked.restore(key, int(at), payload, replace=True, absttl=True)
            except Exception as error:  # reported with the others once all were tried
                problems.append(f"{key!r} ({type(error).__name__}: {error})")
        self.seen.clear()
        return problems

    def delete_prefix(self, client: Any, *, keep_journal: bool = False) -> None:
        """Delete every key under the test's prefix (``SCAN MATCH`` and ``DEL``, never ``FLUSHDB``).

        Args:
            keep_journal: leave the journal, to check by hand keys it could not restore.
        """
        untracked = server(client).untracked
        keys = list(untracked.scan_iter(match=f"{_escape(self.prefix)}:*", count=1000))
        if keep_journal:
            keys = [key for key in keys if key != self.record_key.encode()]
        if keys:
            untracked.delete(*keys)


def _escape(prefix: str) -> str:
    # SCAN MATCH is a glob: the prefix's own glob characters must match literally.
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in prefix)
