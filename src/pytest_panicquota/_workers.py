"""``panic_workers``: a callable run in N real processes that share the test's Redis."""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from panicquota.certification._fresh import load_modules, modules_of
from panicquota.clock import ManualClock
from panicquota.errors import PanicquotaError
from pytest_panicquota._journal import KeyJournal, tracking_client

__all__ = ["WorkerContext", "WorkerError", "WorkerPool"]

#: How long a worker waits for the others at the start line.
_BARRIER_TIMEOUT = 60.0


class WorkerError(PanicquotaError, RuntimeError):
    """A worker process raised, crashed or did not answer in time."""


@dataclass(frozen=True)
class WorkerContext:
    """What a worker's callable receives: where the shared state is, and who it is.

    Attributes:
        index: this worker's number, from 0.
        count: how many workers run.
        redis_url: the URL of the Redis every worker and the test share.
        key_prefix: the test's key prefix (the breaker's, too).
        now: the test's ``panic_clock`` time when the workers were started.
        quota: the test's ``panic_quota``.
        tracked: whether writes must be journaled (a real, shared server).
        journal: this worker's record of the keys it wrote, sent back to the
            test so that they are undone with the test's own.
    """

    index: int
    count: int
    redis_url: str
    key_prefix: str
    now: float
    quota: Any
    tracked: bool
    journal: KeyJournal

    def redis(self) -> Any:
        """Return a client of the shared Redis (the worker closes it when done)."""
        if self.tracked:
            return tracking_client(self.redis_url, self.journal)
        import redis

        return redis.Redis.from_url(self.redis_url)

    def clock(self) -> ManualClock:
        """Return a clock at the test's ``panic_clock`` time: all workers decide at one instant."""
        return ManualClock(self.now)

    def breaker(self, **options: Any) -> Any:
        """Return a breaker on the shared Redis, with the test's prefix, policy and clock."""
        from panicquota.breaker import VIXCircuitBreaker

        options.setdefault("key_prefix", self.key_prefix)
        options.setdefault("clock", self.clock())
        return VIXCircuitBreaker(self.redis(), self.quota, **options)


def _worker_main(
    context: WorkerContext,
    modules: Mapping[str, str],
    job: bytes,
    barrier: Any,
    answers: Any,
) -> None:
    try:
        load_modules(modules)
        fn, args = pickle.loads(job)
        barrier.wait(_BARRIER_TIMEOUT)
        result = fn(context, *args)
        answers.put((context.index, True, result, context.journal.originals))
    except BaseException as error:  # reported to the test, whatever it is
        text = "".join(traceback.format_exception(error)).rstrip()
        answers.put((context.index, False, f"{type(error).__name__}: {error}\n{text}", {}))


class WorkerPool:
    """Run a callable in N processes released together; return their results in order.

    Call it as ``panic_workers(fn, *args, workers=4)``: each process calls
    ``fn(context, *args)`` with its :class:`WorkerContext`. *fn* must be
    picklable (a module-level function).
    """

    def __init__(
        self,
        *,
        redis_url: Callable[[], str],
        key_prefix: str,
        clock: Callable[[], float],
        quota: Any,
        tracked: bool,
        journal: KeyJournal,
    ) -> None:
        self._redis_url = redis_url
        self._key_prefix = key_prefix
        self._clock = clock
        self._quota = quota
        self._tracked = tracked
        self._journal = journal

    def __call__(
        self, fn: Callable[..., Any], *args: Any, workers: int = 4, timeout: float = 60.0
    ) -> list[Any]:
        """Run ``fn(context, *args)`` in *workers* processes and return the results in order.

        Raises:
            WorkerError: a worker raised (its traceback is quoted), died, or
                did not answer within *timeout* seconds.
        """
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise WorkerError(f"workers must be an int >= 1, got {workers!r}")
        try:
            job = pickle.dumps((fn, args))
        except Exception as error:  # pickling fails in many ways
            raise WorkerError(
                f"panic_workers needs a picklable callable and arguments (a module-level "
                f"function), got {fn!r}: {error}"
            ) from None
        spawn = multiprocessing.get_context("spawn")
        barrier = spawn.Barrier(workers)
        answers = spawn.Queue()
        url, now = self._redis_url(), self._clock()
        processes = [
            spawn.Process(
                target=_worker_main,
                args=(
                    WorkerContext(
                        index,
                        workers,
                        url,
                        self._key_prefix,
                        now,
                        self._quota,
                        self._tracked,
                        KeyJournal(),
                    ),
                    modules_of(fn),
                    job,
                    barrier,
                    answers,
                ),
                name=f"panic-worker-{index}",
                daemon=True,
            )
            for index in range(workers)
        ]
        for process in processes:
            process.start()
        try:
            return self._collect(processes, answers, timeout)
        finally:
            for process in processes:
                process.join(5)
                if process.is_alive():
                    process.kill()
                    process.join()
            answers.close()
            answers.join_thread()

    def _collect(self, processes: list[Any], answers: Any, timeout: float) -> list[Any]:
        results: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        while len(results) < len(processes):
            try:
                index, ok, value, originals = answers.get(timeout=0.2)
            except queue.Empty:
                dead = [p.name for i, p in enumerate(processes) if i not in results and p.exitcode]
                if dead:
                    raise WorkerError(f"{', '.join(dead)} died without an answer") from None
                if time.monotonic() > deadline:
                    raise WorkerError(
                        f"{len(processes) - len(results)} of {len(processes)} workers did not "
                        f"answer within {timeout:g} s"
                    ) from None
                continue
            self._journal.merge(originals)
            if not ok:
                raise WorkerError(f"worker {index} of {len(processes)} raised {value}")
            results[index] = value
        return [results[index] for index in range(len(processes))]
