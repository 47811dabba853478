"""``--seldon-controller-id`` set on a running operator (it restarts with the new environment):
each existing graph gets the ``seldon.io/controller-id`` label at its model's next pass, in a
label-only apply that changes nothing Seldon copies onto pods (docs/install.md). Driven through
``reconcile`` with the fakes of ``test_upliftmodel.Sim``."""

from __future__ import annotations

import copy

from tests.unit.services.test_upliftmodel import SELDON, Sim

from uplift_operator.render.seldon import CONTROLLER_ID_LABEL, SeldonV1Backend


def test_a_controller_id_set_later_labels_the_graph_and_rolls_no_pod() -> None:
    sim = Sim()
    sim.with_canary()
    before = copy.deepcopy(sim.cluster.objects[SELDON])
    assert CONTROLLER_ID_LABEL not in before["metadata"]["labels"]
    sim.deps.backend = SeldonV1Backend(controller_id="seldon-team-a")
    sim.tick(1)
    after = sim.cluster.objects[SELDON]
    assert after["metadata"]["labels"][CONTROLLER_ID_LABEL] == "seldon-team-a"
    assert after["spec"] == before["spec"]
    assert sim.weights() == {"1": 90, "2": 10}
