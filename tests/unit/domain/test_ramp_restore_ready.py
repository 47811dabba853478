"""Ready during an emergency restore: the restored stable version has no pods yet and the
version it replaced keeps the traffic. Ready says so (False/WaitingForServing, its message
naming both) from the restore's first pass until the restored version serves: no longer
True/StableServing on the first pass, then False, then True again. A Campaign already exposing
holds through it (a version serves); none starts on a version being rolled back."""

from __future__ import annotations

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure
from uplift_operator.domain.ramp import Reason

from .test_ramp import Sim
from .test_ramp_restore import restoring


def _ready(sim: Sim) -> tuple[str, str, str]:
    ready = cond.find(sim.status.conditions, cond.READY)
    assert ready is not None
    return ready.status, ready.reason, ready.message


def test_ready_says_the_replaced_version_serves_until_the_restored_one_does() -> None:
    sim = restoring()  # the pass that starts the restore: version 1 has no pods
    seen = [_ready(sim)]
    sim.tick(0.5)
    seen.append(_ready(sim))
    for status, reason, message in seen:
        assert (status, reason) == ("False", cond.WAITING_FOR_SERVING)
        assert "version 2 keeps the traffic until it serves" in message
    # A Campaign exposing on this model keeps treating; a new one does not start.
    assert exposure.model_observation("uplift", sim.status, exposing=True).serving
    assert not exposure.model_observation("uplift", sim.status, exposing=False).serving
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(0.5)
    assert sim.reasons() == [Reason.STABLE_RESTORED]
    assert _ready(sim)[:2] == ("True", cond.STABLE_SERVING) and d.status.phase is Phase.DEGRADED
