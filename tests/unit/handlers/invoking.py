"""A kopf handler called as kopf calls it (``kopf._core.actions.invocation.invoke``): a plain
function in kopf's thread pool, a coroutine on the event loop. The loop runs in asyncio's debug
mode, and every wake-up flag registered in the memo's ``Wakeups`` has a task waiting on it: a
handler that sets one from a thread (the loop's objects touched from outside it) raises
``RuntimeError`` there, and a flag set is seen by its waiter at once."""

from __future__ import annotations

import asyncio
from typing import Any

from kopf._core.actions import invocation  # kopf internals: how it runs a handler

from uplift_operator.handlers.scheduling import Wakeups


async def invoke(handler: Any, **kwargs: Any) -> Any:
    """``handler`` run by kopf on the running loop (set to debug mode), with ``kwargs``."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    memo = kwargs.get("memo")
    wakeups = memo.get("wakeups") if memo is not None else None
    flags = ([flag for by_uid in wakeups._flags.values() for flag in by_uid.values()
              if not flag.is_set()] if isinstance(wakeups, Wakeups) else [])
    waiters = {flag: asyncio.create_task(flag.wait()) for flag in flags}
    await asyncio.sleep(0)  # each waits now
    try:
        result = await asyncio.wait_for(invocation.invoke(handler, kwargs=kwargs), timeout=10)
        woken = [waiter for flag, waiter in waiters.items() if flag.is_set()]
        if woken:  # a flag set on the loop wakes its waiter at once
            await asyncio.wait(woken, timeout=1.0)
            assert all(waiter.done() for waiter in woken)
        return result
    finally:
        for waiter in waiters.values():
            waiter.cancel()


def invoke_now(handler: Any, **kwargs: Any) -> Any:
    """``invoke`` on a loop of its own."""
    return asyncio.run(invoke(handler, **kwargs))
