"""A fail-fast breaker for a remote server the pass pool's threads all ask (Prometheus, MLflow).

The passes of every resource share one pool of threads (``--pass-workers``, 8). A server that
accepts and never answers held one of them for a whole request timeout per request: 100
Campaigns due together against a black-holed Prometheus made a pass of any other resource wait
493 s for a thread; 100 UpliftModels held on a black-holed MLflow, 48 s. After a request got no
answer in time, the requests to that server fail at once for a short while, then one of them
tries it again while the others keep failing fast: an outage costs one timeout at a time per
server, not one per request.

Outside ``adapters`` so that the adapters that use it keep knowing nothing of each other
(``.importlinter``: "Adapters do not know about each other"); the standard library only.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from time import monotonic
from typing import Any, ClassVar, Generic, Self, TypeVar

__all__ = ["FailFast"]

Failure = TypeVar("Failure", bound=Exception)


class FailFast(ABC, Generic[Failure]):
    """A circuit breaker for one server: after a request got no answer within its timeout, the
    requests after it fail at once, with that failure (``not_asked``), for ``hold`` seconds;
    then one request tries the server again while the others keep failing fast, and its answer
    (any answer, an error status too) closes the breaker. A refused connection, answered in a
    moment, costs nothing worth saving and leaves it closed (the adapter does not ``settle`` it
    as a failure): a restarted server is asked at once. ``hold=0`` never fails fast. ``clock``
    (monotonic seconds) is injectable for tests.

    ``for_url`` is the process-wide one of a URL, which every client of it shares by default:
    the pass pool's threads all ask the same server. Each subclass (each kind of server) keeps
    its own."""

    #: ``hold`` when none is given (seconds).
    default_hold: ClassVar[float] = 5.0
    _shared: ClassVar[dict[str, Any]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._shared, cls._shared_lock = {}, threading.Lock()

    def __init__(self, hold: float | None = None,
                 clock: Callable[[], float] = monotonic) -> None:
        self.hold = self.default_hold if hold is None else hold
        self.clock = clock
        self._lock = threading.Lock()
        self._failure: Failure | None = None
        self._failed_at = 0.0
        self._trying = False

    @classmethod
    def for_url(cls, url: str) -> Self:
        with cls._shared_lock:
            shared: Self = cls._shared.setdefault(url, cls())
            return shared

    @abstractmethod
    def not_asked(self, failure: Failure) -> Exception:
        """The error a request that fails fast raises: a new one, in ``failure``'s own words (a
        status message must not alternate between "did not answer" and "not asked" from one
        pass to the next)."""

    def admit(self) -> None:
        """Return if a request may be sent now; raise ``not_asked`` of the last failure while
        it fails fast."""
        with self._lock:
            failure = self._failure
            if failure is None:
                return
            if not self._trying and self.clock() - self._failed_at >= self.hold:
                self._trying = True  # this request tries it; the others fail fast meanwhile
                return
        raise self.not_asked(failure)

    def settle(self, failure: Failure | None) -> None:
        """The outcome of an admitted request: a timeout-like failure opens (or keeps open) the
        breaker from now; None (answered, or failed fast on its own) closes it."""
        with self._lock:
            self._trying = False
            if failure is None or self.hold <= 0:
                self._failure = None
            else:
                self._failure, self._failed_at = failure, self.clock()
