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

from panicquota._shared.calls import load_modules, modules_of
from panicquota.clock import ManualClock
from panicquota.errors import PanicquotaError
from pytest_panicquota._journal import KeyJournal
from pytest_panicquota._journal_clients import tracking_client

__all__ = ["WorkerContext", "WorkerError", "WorkerPool"]

#: How long a worker waits for the others at the start line.
_BARRIER_TIMEOUT = 60.0
#: How long an answer may take to arrive after its worker exited.
_EXIT_GRACE = 1.0


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
        journal: where this worker saves, on the server, what each key held
            before its first write, so that the test undoes it with its own.
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


#: A worker's answer: its index, whether it succeeded, and its pickled result
#: or what went wrong. Only bytes and text cross the queue: the queue's feeder
#: thread would drop anything it cannot pickle without a word.
Answer = tuple[int, bool, bytes | str]


def _worker_main(
    context: WorkerContext,
    modules: Mapping[str, str],
    job: bytes,
    barrier: Any,
    answers: Any,
) -> None:
    answer: Answer
    try:
        load_modules(modules)
        fn, args = pickle.loads(job)
        barrier.wait(_BARRIER_TIMEOUT)
        result = fn(context, *args)
        try:
            answer = (context.index, True, pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
        except Exception as error:  # pickling fails in many ways
            answer = (
                context.index,
                False,
                f"returned {_short_repr(result)}, which cannot be sent back to the test "
                f"({type(error).__name__}: {error}); return picklable data",
            )
    except BaseException as error:  # reported to the test, whatever it is
        text = "".join(traceback.format_exception(error)).rstrip()
        answer = (context.index, False, f"raised {type(error).__name__}: {error}\n{text}")
    answers.put(answer)


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
    ) -> None:
        self._redis_url = redis_url
        self._key_prefix = key_prefix
        self._clock = clock
        self._quota = quota
        self._tracked = tracked

    def __call__(
        self, fn: Callable[..., Any], *args: Any, workers: int = 4, timeout: float = 60.0
    ) -> list[Any]:
        """Run ``fn(context, *args)`` in *workers* processes and return the results in order.

        Every worker is waited for (until *timeout*) even after one failed, so
        that none is still writing when the test's keys are restored.

        Raises:
            WorkerError: a worker raised (its traceback is quoted), returned
                something that cannot be pickled, died, or did not answer
                within *timeout* seconds; or a worker could not be started.
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
                        KeyJournal(self._key_prefix),
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
        answered: set[int] = set()
        try:
            for index, process in enumerate(processes):
                try:
                    process.start()
                except Exception as error:  # spawn pickles the arguments: any error
                    # The workers already started wait at the start line: release them.
                    barrier.abort()
                    raise WorkerError(
                        f"panic_workers could not start worker {index} of {workers} "
                        f"({type(error).__name__}: {error}); everything a worker gets must "
                        "pickle: the callable, its arguments and panic_quota"
                    ) from None
            return self._collect(processes, answers, timeout, answered)
        finally:
            for index, process in enumerate(processes):
                if process.pid is None:
                    continue
                # A worker that answered is exiting; one that did not may never.
                process.join(5 if index in answered else 0)
                if process.is_alive():
                    process.kill()
                    process.join()
            answers.close()
            answers.join_thread()

    def _collect(
        self, processes: list[Any], answers: Any, timeout: float, answered: set[int]
    ) -> list[Any]:
        count = len(processes)
        results: dict[int, Any] = {}
        failures: dict[int, str] = {}
        exited: dict[int, float] = {}
        deadline = time.monotonic() + timeout
        while len(answered) < count and time.monotonic() < deadline:
            try:
                index, ok, value = answers.get(timeout=0.2)
            except queue.Empty:
                self._note_deaths(processes, answered, exited, failures)
                continue
            answered.add(index)
            if not ok:
                failures[index] = str(value)
                continue
            try:
                results[index] = pickle.loads(value)
            except Exception as error:  # the result's class may not load here
                failures[index] = (
                    f"returned a result the test cannot unpickle ({type(error).__name__}: {error})"
                )
        for index in range(count):
            if index not in answered:
                failures[index] = f"did not answer within {timeout:g} s"
        if failures:
            raise WorkerError(_failure_message(failures, count))
        return [results[index] for index in range(count)]

    @staticmethod
    def _note_deaths(
        processes: list[Any], answered: set[int], exited: dict[int, float], failures: dict[int, str]
    ) -> None:
        now = time.monotonic()
        for index, process in enumerate(processes):
            if index in answered or process.exitcode is None:
                continue
            # An answer sent just before exiting may still be in the pipe.
            if now - exited.setdefault(index, now) > _EXIT_GRACE:
                failures[index] = f"exited (exit code {process.exitcode}) without an answer"
                answered.add(index)


def _short_repr(value: Any, limit: int = 120) -> str:
    try:
        text = repr(value)
    except Exception as error:  # a broken __repr__ must not hide the real problem
        return f"a {type(value).__name__} (whose repr raised {type(error).__name__})"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _failure_message(failures: dict[int, str], count: int) -> str:
    first, *others = sorted(failures)
    message = f"worker {first} of {count} {failures[first]}"
    if not others:
        return message
    brief = "; ".join(f"worker {index} {failures[index].splitlines()[0]}" for index in others)
    head, _, rest = message.partition("\n")
    also = f"{len(others)} other worker{'s' if len(others) > 1 else ''} failed too"
    return f"{head} ({also}: {brief})" + (f"\n{rest}" if rest else "")
