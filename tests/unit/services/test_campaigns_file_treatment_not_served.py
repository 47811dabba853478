"""A Campaign held ``TreatmentNotServed`` after a spec edit (the edit names a treatment the
served version does not score, so every replica rejects the entry as edited): the file carries
the entry from before the edit, so a replica started since (no previous settings to keep)
serves the Campaign on the settings the others keep, instead of answering 404
unknown_campaign; the edited entry once the served version scores it."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, OWNER, campaign_body

from uplift_operator.runtime import campaigns as runtime
from uplift_operator.runtime.config import ConfigError
from uplift_operator.services import campaigns_file

SERVED = {"womens-e-mail", "mens-e-mail"}  # what the serving version scores
EDITED = [{"name": "womens-e-mail"}, {"name": "mens-e-mail"}, {"name": "sms"}]


def _bind(campaign: Any) -> Any:
    for treatment in campaign.treatments:
        if treatment not in SERVED:
            raise ConfigError(f"this version does not score treatment {treatment!r}")
    return campaign


def _campaign(generation: int, reason: str, observed: int, *, phase: str = "Healthy",
              percent: float = 50, **spec: Any) -> dict[str, Any]:
    body = campaign_body(percent=percent, phase=phase, generation=generation, **spec)
    body["metadata"]["uid"] = "c-1"
    body["status"]["conditions"] = [{
        "type": "Ready", "status": "True" if reason == "Exposing" else "False",
        "reason": reason, "lastTransitionTime": "2026-12-01T12:00:00Z",
        "observedGeneration": observed}]
    return body


def _sync(deps: campaigns_file.FileDependencies, body: dict[str, Any]) -> campaigns_file.Synced:
    return campaigns_file.sync(OWNER, [campaigns_file.snapshot(body)], deps)


def _entry(cluster: FakeCluster) -> dict[str, Any]:
    document = json.loads(cluster.objects[KEY]["data"]["campaigns.json"])
    return dict(document["campaigns"]["spring-email"])


def _fresh_replica(cluster: FakeCluster) -> dict[str, Any]:
    """What a replica started now serves: campaign → (generation, exposure, active)."""
    applied, _ = runtime.apply_document({}, cluster.objects[KEY]["data"]["campaigns.json"],
                                       _bind)
    return {name: (c.generation, c.exposure_percent, c.active) for name, c in applied.items()}


def test_a_replica_started_while_the_edit_is_not_served_gets_the_settings_from_before() -> None:
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    _sync(deps, _campaign(1, "Exposing", 1))
    before = _entry(cluster)
    assert _fresh_replica(cluster) == {"spring-email": (1, 50.0, True)}

    # The edit reaches the file before the Campaign's pass judges it (its Ready still of 1).
    _sync(deps, _campaign(2, "Exposing", 1, treatments=EDITED))
    assert _entry(cluster)["generation"] == 2 and "sms" in _entry(cluster)["treatments"]

    # Its pass: the served version does not score 'sms'; held, nothing withdrawn.
    held = _campaign(2, "TreatmentNotServed", 2, phase="Degraded", treatments=EDITED)
    synced = _sync(deps, held)
    assert synced.error is None and synced.changed
    assert _entry(cluster) == before  # the entry the replicas running before keep
    assert _fresh_replica(cluster) == {"spring-email": (1, 50.0, True)}
    assert _sync(deps, held).changed is False  # steady while held

    # A rollback while held still reaches every replica: at no more than the exposure decided.
    rolled_back = _campaign(2, "TreatmentNotServed", 2, phase="Degraded", percent=0,
                            treatments=EDITED)
    _sync(deps, rolled_back)
    assert _entry(cluster) == {**before, "exposurePercent": 0, "active": False}
    _sync(deps, held)

    # The model serves a version scoring 'sms': the edit goes out, and nothing is kept.
    _sync(deps, _campaign(2, "Exposing", 2, treatments=EDITED))
    assert _entry(cluster)["generation"] == 2 and "sms" in _entry(cluster)["treatments"]
    assert deps.before_edit == {}


def test_held_before_the_edit_was_written_the_edit_never_reaches_the_file() -> None:
    """The Campaign's pass said TreatmentNotServed before the file pass saw the edit: the
    file there holds the entry from before, which stays, across a restart of the operator."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    _sync(deps, _campaign(1, "Exposing", 1))
    before = _entry(cluster)
    held = _campaign(2, "TreatmentNotServed", 2, phase="Degraded", treatments=EDITED)
    _sync(deps, held)
    assert _entry(cluster) == before
    restarted = campaigns_file.FileDependencies(cluster)
    assert _sync(restarted, held).changed is False
    assert _entry(cluster) == before


def test_a_version_that_stops_scoring_an_old_treatment_carries_the_entry_as_it_is() -> None:
    """Held with no edit pending (the model now serves a version without one of the spec's
    treatments): no entry from before an edit to carry; the entry stays as the spec says."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    _sync(deps, _campaign(1, "Exposing", 1, treatments=EDITED))
    _sync(deps, _campaign(2, "Exposing", 2, treatments=EDITED[:2]))  # an edit, served
    _sync(deps, _campaign(3, "Exposing", 3, treatments=EDITED))  # edited back, served
    assert deps.before_edit == {}
    _sync(deps, _campaign(3, "TreatmentNotServed", 3, phase="Degraded", treatments=EDITED))
    assert _entry(cluster)["generation"] == 3  # not generation 1 or 2 brought back


def _held_at_2(deps: campaigns_file.FileDependencies) -> None:
    """Generation 1 served and in the file; edit 2 judged not served (held)."""
    _sync(deps, _campaign(1, "Exposing", 1))
    _sync(deps, _campaign(2, "TreatmentNotServed", 2, phase="Degraded", treatments=EDITED))


def test_a_hold_for_something_else_after_the_edit_was_judged_not_served_keeps_the_entry() -> None:
    """RollbackPending, BudgetExhausted, … come before TreatmentNotServed in Ready: at the
    same generation they say nothing of the edit, which every replica still rejects."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    _held_at_2(deps)
    before = _entry(cluster)
    _sync(deps, _campaign(2, "RollbackPending", 2, phase="Degraded", treatments=EDITED))
    assert _entry(cluster) == {**before, "active": False}  # as a rollback pending says
    assert _fresh_replica(cluster) == {"spring-email": (1, 50.0, False)}
    # A spent budget at 0 %: at 0 % on the settings from before, then held again.
    _sync(deps, _campaign(2, "BudgetExhausted", 2, phase="Suspended", percent=0,
                          treatments=EDITED))
    assert _entry(cluster) == {**before, "exposurePercent": 0, "active": False}
    _sync(deps, _campaign(2, "TreatmentNotServed", 2, phase="Degraded", treatments=EDITED))
    assert _entry(cluster) == before
    assert _fresh_replica(cluster) == {"spring-email": (1, 50.0, True)}


def test_a_second_edit_before_the_first_is_judged_keeps_the_entry_from_before_both() -> None:
    """Edit 2 (not served) reaches the file before its pass judges it, then edit 3 (not
    served either): the file carries generation 1, not the entry of 2 the replicas rejected."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    _sync(deps, _campaign(1, "Exposing", 1))
    before = _entry(cluster)
    _sync(deps, _campaign(2, "Exposing", 1, treatments=EDITED))
    assert _entry(cluster)["generation"] == 2
    third = [*EDITED, {"name": "push"}]
    _sync(deps, _campaign(3, "Exposing", 1, treatments=third))
    assert _entry(cluster)["generation"] == 3
    _sync(deps, _campaign(3, "TreatmentNotServed", 3, phase="Degraded", treatments=third))
    assert _entry(cluster) == before
    assert _fresh_replica(cluster) == {"spring-email": (1, 50.0, True)}


def test_an_edit_judged_served_before_the_next_one_is_what_the_file_keeps() -> None:
    """Edit 2 served (its pass said so) and edit 3 not: the file carries generation 2."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    _sync(deps, _campaign(1, "Exposing", 1))
    second = [{"name": "womens-e-mail"}]
    _sync(deps, _campaign(2, "Exposing", 1, treatments=second))
    _sync(deps, _campaign(3, "Exposing", 2, treatments=EDITED))  # 2 judged served meanwhile
    served = _entry(cluster)
    assert served["generation"] == 3
    _sync(deps, _campaign(3, "TreatmentNotServed", 3, phase="Degraded", treatments=EDITED))
    assert _entry(cluster)["generation"] == 2
    assert _fresh_replica(cluster) == {"spring-email": (2, 50.0, True)}


def test_a_fixing_edit_reaches_the_file_before_its_pass_judges_it() -> None:
    """Held at 2, then edited (3) to a treatment the version scores: Ready still says
    TreatmentNotServed of 2, which does not hold 3; the file carries 3 at once."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    _held_at_2(deps)
    fixed = [{"name": "womens-e-mail"}]
    _sync(deps, _campaign(3, "TreatmentNotServed", 2, phase="Degraded", treatments=fixed))
    assert _entry(cluster)["generation"] == 3
    assert _fresh_replica(cluster) == {"spring-email": (3, 50.0, True)}
    _sync(deps, _campaign(3, "Exposing", 3, treatments=fixed))
    assert _entry(cluster)["generation"] == 3 and deps.before_edit == {}
