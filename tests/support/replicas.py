"""Two operator replicas under kopf peering, for the failover test and bench.

One replica acts, the other stands by (a lower priority). A kill is a SIGKILL of the acting one,
as a node failure would do it: its peering entry stays behind until its lifetime
(``--peering-lifetime``) runs out, then the standby resumes (kopf logs "Resuming operations
after the pause"). The killed replica's replacement gets a new name, as a new pod would, and a
priority below every live one, so it joins as the standby: every kill is a failover, never a
hand-back.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.kube import Kubectl, OperatorProcess
from uplift_operator.devenv import process

RESUMED = "Resuming operations after the pause"
OUTRANKED = "Pausing operations in favour of"
PEERING = "uplift-operator"


class ReplicaPair:
    """Replicas named ``replica-<n>`` (kopf's peering identity, ``POD_ID``; also ``HOSTNAME``,
    the reporting instance of their events), priorities falling from 1000."""

    def __init__(self, admin: Kubectl, kubeconfig: Path, logdir: Path, *extra: str,
                 lifetime: int | None = None) -> None:
        self.admin = admin
        self.kubeconfig = kubeconfig
        self.logdir = logdir
        self.extra = (*extra, *(["--peering-lifetime", str(lifetime)] if lifetime else []))
        self.serial = 0
        self.priority = 1001
        self.active: OperatorProcess | None = None
        self.standby: OperatorProcess | None = None
        self.killed: list[OperatorProcess] = []

    def start(self) -> ReplicaPair:
        self.active = self._new().start()
        self._wait_registered(self.active)
        self.active.wait_for_log(RESUMED, timeout=60)  # a first replica resumes at once
        self.standby = self._new().start()
        self._wait_registered(self.standby)
        return self

    def _new(self) -> OperatorProcess:
        self.serial += 1
        self.priority -= 1
        name = f"replica-{self.serial}"
        return OperatorProcess(self.kubeconfig, self.logdir, "--priority", str(self.priority),
                               *self.extra, env={"POD_ID": name, "HOSTNAME": name})

    def peers(self) -> dict[str, Any]:
        """The ClusterKopfPeering's entries: identity → priority, lifetime, lastseen."""
        peers: dict[str, Any] = self.admin.get("clusterkopfpeering", PEERING).get("status") or {}
        return peers

    def _wait_registered(self, replica: OperatorProcess) -> None:
        process.wait_until(lambda: name_of(replica) in self.peers(), timeout=60, interval=0.2,
                           what=f"{name_of(replica)} in the peering object")

    # -- one step at a time (the bench: nothing else runs while the standby takes over) -------

    def kill_active(self) -> float:
        """SIGKILL the acting replica; the instant (``time.time()``)."""
        assert self.active is not None
        killed_at = time.time()
        self.active.kill()
        self.killed.append(self.active)
        self.active = None
        return killed_at

    def wait_takeover(self, timeout: float = 90) -> float:
        """Wait until the standby acts; when it resumed (its log's timestamp)."""
        assert self.standby is not None
        self.standby.wait_for_log(RESUMED, timeout=timeout)
        self.active, self.standby = self.standby, None
        return resumed_at(self.active)

    def replace_killed(self) -> None:
        """Start the killed replica's replacement; it joins as the standby."""
        assert self.standby is None
        self.standby = self._new().start()
        self._wait_registered(self.standby)

    # -- all at once (the test: the replacement starts while the standby takes over) ----------

    def fail_over(self, timeout: float = 90) -> tuple[float, float]:
        """Kill the acting replica, start its replacement at once, wait until the standby acts
        and the replacement stands by. (killed at, standby resumed at)."""
        killed_at = self.kill_active()
        replacement = self._new()
        failed: list[BaseException] = []

        def start() -> None:
            try:
                replacement.start()
            except BaseException as error:  # re-raised below, in the test's thread
                failed.append(error)

        starter = threading.Thread(target=start, name="replacement")
        starter.start()
        try:
            resumed = self.wait_takeover(timeout)
        finally:
            starter.join()
            self.standby = replacement
        if failed:
            raise failed[0]
        self._wait_registered(replacement)
        return killed_at, resumed

    # -------------------------------------------------------------------------------------------

    def replicas(self) -> list[OperatorProcess]:
        return [r for r in (self.active, self.standby) if r is not None]

    def all_logs(self) -> str:
        return "\n".join(r.logs() for r in [*self.killed, *self.replicas()])

    def logs(self) -> str:
        """The acting replica's log (what a failing wait shows)."""
        return self.active.logs() if self.active is not None else ""

    def stop(self) -> None:
        for replica in self.replicas():
            replica.stop()
        self.active = self.standby = None


def name_of(replica: OperatorProcess) -> str:
    return replica.env["POD_ID"]


def logged_at(replica: OperatorProcess, text: str) -> list[float]:
    """When ``replica`` logged a line containing ``text`` (Unix times, from its JSON log)."""
    return [datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp()
            for line in replica.logs().splitlines() if text in line and line.startswith("{")]


def resumed_at(replica: OperatorProcess) -> float:
    """When ``replica`` first resumed after a pause."""
    times = logged_at(replica, RESUMED)
    assert times, f"{RESUMED!r} is not in {replica.log}"
    return times[0]
