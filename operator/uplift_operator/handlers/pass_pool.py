"""The thread pool the passes run in: work that finishes what a resource started goes first.

A FIFO pool serves a mass apply in arrival order. With 10,000 UpliftModels applied at once, the
first pass of each (create its graph) queues ahead of every later pass (the graph serves: mark
it Ready), so hardly any resource is Ready until nearly every graph is created. ``PassPool``
orders its queue by when the work was submitted, but a resource's first pass (submitted through
``PassPool.first_passes``) counts as submitted ``first_pass_deferral`` seconds later: later
passes, status writes and the other shared work go ahead of it, while a first pass never waits
more than that behind them (a busy fleet cannot starve a new resource).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

__all__ = ["FIRST_PASS_DEFERRAL", "PassPool"]

#: How much later than submitted a resource's first pass is queued.
FIRST_PASS_DEFERRAL = 120.0

_P = ParamSpec("_P")
_T = TypeVar("_T")
_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class PassPool(Executor):
    """A pool of ``max_workers`` threads (started as needed) serving the earliest-due work."""

    def __init__(self, max_workers: int, *, thread_name_prefix: str = "pass",
                 first_pass_deferral: float = FIRST_PASS_DEFERRAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be ≥ 1, got {max_workers}")
        self._max_workers, self._prefix, self._clock = max_workers, thread_name_prefix, clock
        self._queue: list[tuple[float, int, _Work]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._shut = False
        #: The same pool, for a resource's first pass: queued ``first_pass_deferral`` later.
        self.first_passes: Executor = _Deferred(self, first_pass_deferral)

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        return self._enqueue(0.0, fn, args, kwargs)

    def _enqueue(self, deferral: float, fn: Callable[..., _T], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Future[_T]:
        future: Future[_T] = Future()
        with self._ready:
            if self._shut:
                raise RuntimeError("cannot schedule new work after shutdown")
            due = self._clock() + deferral
            heapq.heappush(self._queue, (due, next(self._order), (future, fn, args, kwargs)))
            if self._idle == 0 and len(self._threads) < self._max_workers:
                thread = threading.Thread(target=self._serve, daemon=True,
                                          name=f"{self._prefix}_{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            else:
                self._ready.notify()
        return future

    def _serve(self) -> None:
        while True:
            with self._ready:
                self._idle += 1
                while not self._queue and not self._shut:
                    self._ready.wait()
                self._idle -= 1
                if not self._queue:
                    return  # shut down, nothing left
                future, fn, args, kwargs = heapq.heappop(self._queue)[2]
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:  # as ThreadPoolExecutor: the caller gets it
                future.set_exception(error)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            self._shut = True
            if cancel_futures:
                for _, _, (future, *_) in self._queue:
                    future.cancel()
                self._queue.clear()
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()

    def __len__(self) -> int:
        """Work queued, not yet started."""
        with self._ready:
            return len(self._queue)


class _Deferred(Executor):
    def __init__(self, pool: PassPool, deferral: float) -> None:
        self._pool, self._deferral = pool, deferral

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        return self._pool._enqueue(self._deferral, fn, args, kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The pool's to shut down, not a view's."""
