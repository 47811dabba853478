"""``WriteBack.superseded`` wakes the worker, as ``reset`` and ``submit`` do: the head it drops
may have been failing, its next try minutes away, and a write of another resource held behind
it is due at once."""

from __future__ import annotations

import threading
import time

from tests.unit.services.test_writeback import SCOPE, Clock, Registry

from uplift_operator.services.writeback import WriteBack

OWNER, OTHER = ("UpliftModel", "ns", "a"), ("UpliftModel", "other", "b")


def test_superseded_wakes_the_worker_for_the_write_its_drop_let_through() -> None:
    reg, clock = Registry(), Clock()
    queue = WriteBack(clock=clock)
    reg.down = True
    queue.submit(OWNER, reg, SCOPE, "m", [reg.write("alias", "prod", "2")])  # type: ignore[arg-type]
    for _ in range(6):  # its backoff grows past half a minute
        clock.now += queue.run_due() or 0.0
    assert queue.run_due() == 64.0  # its seventh try failed
    reg.down = False
    queue.submit(OTHER, reg, SCOPE, "m", [reg.write("role", "3", "canary")])  # type: ignore[arg-type]
    delay = queue.run_due()
    assert delay is not None and delay > 30 and queue.pending() == 2 and reg.done == []
    worker = threading.Thread(target=queue._iterate, daemon=True)  # one round of the worker
    worker.start()
    time.sleep(0.1)
    assert worker.is_alive()  # asleep until the head's next try
    queue.superseded(OWNER)
    worker.join(5)
    assert not worker.is_alive()  # woken: its next round writes what was held
    queue.run_due()
    assert reg.done == [("role", "3")] and queue.pending() == 0
