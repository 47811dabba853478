"""services.run_cache: a READY version's run metrics and reference artifacts are read from MLflow
once per registry identity, whatever number of resources analyse them, and only they are.

Before it, every resource read them at every analysis: 100 Campaigns with a drift gate on one
model downloaded one reference 100 times a round, a qini follower made 2 ``run_metrics`` calls
and 2 artifact downloads (6 HTTP requests) per analysis (/tmp/review-scale: the review's
``gate_reference_reads.py`` and ``qini_reads.py``, which these tests follow)."""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from tests.unit.services import shared_reads as shared
from tests.unit.services import test_campaign as tc
from tests.unit.services import test_upliftmodel as tu
from tests.unit.services.shared_reads import URI, CountingRegistry, wired

from uplift_operator.adapters.mlflow_registry import (
    Credentials,
    RegistryNotFound,
    RegistryUnavailable,
)
from uplift_operator.handlers.scheduling import RESYNC_SECONDS
from uplift_operator.services import campaign
from uplift_operator.services.measurements import REFERENCE_QINI_BOOTSTRAP
from uplift_operator.services.ports import Registry
from uplift_operator.services.run_cache import (
    CLIENT_IDLE_SECONDS,
    CachingRegistry,
    RegistryClients,
    RunReads,
)

# -- N resources, one run ------------------------------------------------------------------------

def test_campaigns_drift_gates_on_one_model_download_its_reference_once() -> None:
    sim = tc.DriftSim(tc.UNDRIFTED)
    fake = sim.registry
    assert sim.deps.models is not None
    sim.deps.models.registry_for = wired(RegistryClients(lambda uri, credentials: fake))
    bodies = []
    for i in range(100):
        body = copy.deepcopy(sim.body)
        body["metadata"]["name"] = f"c-{i:03d}"
        bodies.append(body)
    now = sim.now
    for _ in range(3):  # the review's rounds: 100 downloads each
        for body in bodies:
            body["status"] = campaign.reconcile(copy.deepcopy(body), sim.deps, now).status
        now += dt.timedelta(minutes=5)
    assert fake.artifact_runs == ["run-3"], "one download of the served version's reference"
    verdicts = {g["verdict"] for b in bodies for g in b["status"]["gates"] if g["name"] == "drift"}
    assert verdicts == {"Pass"}  # every Campaign judged on it


def qini_followers(n: int, registry_for: Any) -> tuple[CountingRegistry, list[dict[str, Any]]]:
    """``n`` UpliftModels with one qini gate following one alias, three analyses into the canary
    of version 2 (the review's qini_reads.py); both runs have the trainer's bootstrap."""
    sim, fake = shared.counting_sim()
    sim.deps.registry_for = registry_for(fake)
    sim.body["spec"]["rollout"]["gates"] = [{"name": "qini", "type": "qini"}]
    for version in ("1", "2"):
        fake.metrics[f"run-{version}"] = {"qini.email": 0.05, "qini_lower.email": 0.04,
                                          "qini_upper.email": 0.06, "n_test.email": 5000}
        fake.artifacts[(f"run-{version}", REFERENCE_QINI_BOOTSTRAP)] = {
            "evaluationSet": f"set-{version}",
            "treatments": {"email": {"estimate": 0.05, "replicates": [0.05] * 200}}}
    sim.tick()
    sim.tick(1)
    fake.aliases[(tu.REGISTERED, "champion")] = "2"
    sim.tick(30)
    sim.tick(1)
    assert sim.status["canaryVersion"] == "2"
    bodies = shared.copies(sim.body, n)
    now = sim.now
    for _ in range(3):
        now += dt.timedelta(seconds=61)
        shared.passed(bodies, sim.deps, now)
    return fake, bodies


def test_qini_followers_read_each_runs_metrics_and_bootstrap_once() -> None:
    fake, bodies = qini_followers(
        50, lambda fake: wired(RegistryClients(lambda uri, credentials: fake)))
    runs = {k: n for k, n in fake.asked.items() if k[0] in ("run_metrics", "artifact")}
    assert runs == {("run_metrics", "run-1"): 1, ("run_metrics", "run-2"): 1,
                    ("artifact", f"run-1/{REFERENCE_QINI_BOOTSTRAP}"): 1,
                    ("artifact", f"run-2/{REFERENCE_QINI_BOOTSTRAP}"): 1}
    # The same answers as reading MLflow every time (which made 200 + 200 reads a round).
    uncached, reference = qini_followers(50, lambda fake: lambda ref, credentials: fake)
    assert uncached.asked["run_metrics", "run-2"] >= 150
    assert [b["status"] for b in bodies] == [b["status"] for b in reference]
    gates = [g for b in bodies for g in b["status"]["gates"]]
    assert gates and all(g["name"] == "qini" and g["value"] == 0.05 for g in gates)


# -- what is kept, and for whom ------------------------------------------------------------------

def test_a_failed_read_is_not_kept_and_the_next_one_asks_again() -> None:
    fake = CountingRegistry(metrics={"run-1": {"qini.email": 0.05}})
    client = RegistryClients(lambda uri, credentials: fake).get(URI, None)
    fake.down = True
    for _ in range(2):
        with pytest.raises(RegistryUnavailable):
            client.run_metrics("run-1")
    fake.down = False
    assert client.run_metrics("run-1") == {"qini.email": 0.05}
    assert client.run_metrics("run-1") == {"qini.email": 0.05}
    assert fake.asked["run_metrics", "run-1"] == 3  # two failures, one read, then kept


def test_a_missing_artifact_is_an_answer_kept_for_a_while() -> None:
    """A run logged before the trainer wrote qini_bootstrap.json never has it: MLflow's "not
    found" is believed for ``absent_ttl``, then asked again."""
    clock = [0.0]
    fake = CountingRegistry()
    clients = RegistryClients(lambda uri, credentials: fake,
                              reads=RunReads(absent_ttl=600, clock=lambda: clock[0]))
    client = clients.get(URI, None)
    for _ in range(3):
        with pytest.raises(RegistryNotFound, match="not found"):
            client.download_artifact_json("run-1", REFERENCE_QINI_BOOTSTRAP)
    assert fake.asked["artifact", f"run-1/{REFERENCE_QINI_BOOTSTRAP}"] == 1
    clock[0] = 600.0
    fake.artifacts[("run-1", REFERENCE_QINI_BOOTSTRAP)] = {"treatments": {}}
    assert client.download_artifact_json("run-1", REFERENCE_QINI_BOOTSTRAP) == {"treatments": {}}
    assert fake.asked["artifact", f"run-1/{REFERENCE_QINI_BOOTSTRAP}"] == 2


def test_identities_never_share_a_read() -> None:
    """A read is shared by the same server asked as the same user only: another Secret's
    credentials, none, or another server read for themselves."""
    built: dict[tuple[str, str | None], CountingRegistry] = {}

    def build(uri: str, credentials: Credentials | None) -> Registry:
        who = credentials.authorization() if credentials else None
        fake = CountingRegistry(metrics={"run-1": {"seen_by": float(len(built))}})
        built[uri, who] = fake
        return fake

    clients = RegistryClients(build)
    askers = [(URI, None), (URI, Credentials.bearer("team-a")), (URI, Credentials.bearer("team-b")),
              (URI, Credentials.basic("team-a", "pw")), ("http://other.test", None)]
    answers = [clients.get(uri, credentials).run_metrics("run-1")["seen_by"]
               for uri, credentials in askers]
    assert answers == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(fake.asked["run_metrics", "run-1"] == 1 for fake in built.values())
    # Equal credentials (another Secret, or the same one read again) are the same user.
    same = clients.get(URI + "/", Credentials.bearer("team-a"))
    assert same is clients.get(URI, Credentials.bearer("team-a"))
    assert same.run_metrics("run-1")["seen_by"] == 1.0 and len(built) == 5


def test_what_may_change_is_asked_every_time() -> None:
    """Versions (their status, tags and aliases), run tags and signatures go to MLflow; so do
    the writes."""
    fake = CountingRegistry()
    fake.add("m", "1")
    fake.aliases[("m", "champion")] = "1"
    client = RegistryClients(lambda uri, credentials: fake).get(URI, None)
    for _ in range(2):
        client.resolve("m", alias="champion")
        client.resolve("m", version="1")
        client.run_tags("run-1")
        client.model_signature("m", "1")
    client.set_version_tag("m", "1", "k", "v")
    client.set_alias("m", "stable", "1")
    assert fake.asked == Counter({("resolve", "m//champion"): 2, ("resolve", "m/1/"): 2,
                                  ("run_tags", "run-1"): 2, ("model_signature", "m/1"): 2})
    assert fake.tags[("m", "1", "k")] == "v" and fake.aliases[("m", "stable")] == "1"


def test_kept_metrics_cannot_be_changed_by_a_caller() -> None:
    fake = CountingRegistry(metrics={"run-1": {"qini.email": 0.05}})
    metrics: Any = RegistryClients(lambda uri, credentials: fake).get(URI, None).run_metrics("run-1")
    with pytest.raises(TypeError):
        metrics["qini.email"] = 1.0


def test_passes_asking_at_once_wait_for_one_read_and_share_its_error() -> None:
    reads = RunReads()
    for fails in (True, False):
        read = shared.HeldRead({"v": 1}, RegistryUnavailable("MLflow did not answer") if fails else None)
        got = shared.asked_at_once(partial(reads.get, "key", read), read,
                            lambda: reads._flights["key"].waiting, catch=RegistryUnavailable)
        assert read.calls == 1 and len(got) == 8
        if fails:
            assert all(isinstance(g, RegistryUnavailable) for g in got)
            assert reads.size == (0, 0)  # the failure is not kept
        else:
            assert all(g == {"v": 1} for g in got)
            assert reads.size[0] == 1


def test_bounded_by_entries_and_by_bytes_least_recently_used_first() -> None:
    reads = RunReads(max_entries=3, max_bytes=10_000)
    for key in ("a", "b", "c"):
        reads.get(key, lambda: [0.5] * 10)
    reads.get("a", lambda: pytest.fail("kept"))  # a: used last
    reads.get("d", lambda: [0.5] * 10)
    assert set(reads._entries) == {"c", "a", "d"}  # b, least recently used, is dropped
    assert reads.get("big", lambda: [0.5] * 400) == [0.5] * 400  # ~13 KB: served, not kept
    assert "big" not in reads._entries
    reads.get("large", lambda: [0.5] * 250)  # ~8 KB
    assert list(reads._entries) == ["a", "d", "large"]  # c: over the entries
    reads.get("larger", lambda: [0.5] * 300)  # ~9.7 KB: what no longer fits goes
    assert list(reads._entries) == ["larger"]
    assert reads.size == (1, reads._entries["larger"][1]) and reads.size[1] <= 10_000


def test_forty_identities_in_turn_build_forty_clients() -> None:
    """The review's ``clients.py``: 40 teams' credentials, each used in turn (their models'
    passes), built a client at 120 of 120 passes when 32 were kept (a new Session, a TLS
    handshake, the alias poller's client replaced each time)."""
    clients = RegistryClients(lambda uri, credentials: CountingRegistry())
    for _ in range(3):
        for team in range(40):
            clients.get(URI, Credentials.bearer(f"team-{team}"))
    assert clients.built == 40 and len(clients) == 40


def test_a_client_unused_for_a_while_is_dropped_and_one_in_use_is_kept() -> None:
    """Every resource passes at least every resync (10 minutes): an identity in use is asked
    for within ``CLIENT_IDLE_SECONDS`` and kept; one no pass asks for any more (its resources
    deleted, its Secret rotated) is dropped with its connections."""
    clock = [0.0]
    clients = RegistryClients(lambda uri, credentials: CountingRegistry(),
                              clock=lambda: clock[0])
    in_use = clients.get(URI, Credentials.bearer("team-a"))
    clients.get(URI, Credentials.bearer("rotated-away"))
    for _ in range(6):  # an hour of resyncs, team-a asked at each
        clock[0] += RESYNC_SECONDS
        assert clients.get(URI, Credentials.bearer("team-a")) is in_use
    assert len(clients) == 1 and clients.built == 2
    assert CLIENT_IDLE_SECONDS >= 3 * RESYNC_SECONDS


def test_beyond_the_bound_the_least_recently_used_client_goes() -> None:
    clients = RegistryClients(lambda uri, credentials: CountingRegistry(), max_clients=2)
    first = clients.get(URI, Credentials.bearer("a"))
    clients.get(URI, Credentials.bearer("b"))
    assert clients.get(URI, Credentials.bearer("a")) is first  # used again: kept
    clients.get(URI, Credentials.bearer("c"))  # b, least recently used, goes
    assert clients.get(URI, Credentials.bearer("a")) is first
    assert len(clients) == 2 and clients.built == 3
    clients.get(URI, Credentials.bearer("b"))
    assert clients.built == 4


# -- a run still running -------------------------------------------------------------------------

@dataclass
class RunStatusRegistry(CountingRegistry):
    """A fake MLflow that says each run's status with its metrics, as ``MlflowRegistry``."""

    run_status: dict[str, str] = field(default_factory=dict)

    def run_metrics_and_status(self, run_id: str) -> tuple[dict[str, float], str]:
        return dict(self.run_metrics(run_id)), self.run_status.get(run_id, "FINISHED")


def test_a_running_runs_metrics_are_read_again_until_it_ends() -> None:
    """``log_model(registered_model_name=...)`` then ``log_metric`` in the same run (or
    ``mlflow.evaluate`` after the registration): read while RUNNING, before its qini metrics
    existed, the run was kept without them for the process's life. Now it is kept for
    ``unended_ttl`` only, then read again; once ended, for ``ended_ttl``."""
    clock = [0.0]
    fake = RunStatusRegistry()
    fake.metrics["r1"] = {"auc": 0.7}
    fake.run_status["r1"] = "RUNNING"
    reads = RunReads(unended_ttl=60, ended_ttl=600, clock=lambda: clock[0])
    client = RegistryClients(lambda uri, credentials: fake, reads=reads).get(URI, None)
    assert dict(client.run_metrics("r1")) == {"auc": 0.7}
    fake.metrics["r1"]["qini.email"] = 0.12
    clock[0] = 59.0
    assert dict(client.run_metrics("r1")) == {"auc": 0.7}  # within the TTL: as read
    clock[0] = 60.0
    assert dict(client.run_metrics("r1")) == {"auc": 0.7, "qini.email": 0.12}
    fake.run_status["r1"] = "FINISHED"
    clock[0] = 120.0
    assert dict(client.run_metrics("r1")) == {"auc": 0.7, "qini.email": 0.12}
    fake.metrics["r1"]["late"] = 1.0  # ended: kept for ended_ttl from its read at 120 s
    clock[0] = 719.0
    assert dict(client.run_metrics("r1")) == {"auc": 0.7, "qini.email": 0.12}
    assert fake.asked["run_metrics", "r1"] == 3
    clock[0] = 720.0
    assert dict(client.run_metrics("r1")) == {"auc": 0.7, "qini.email": 0.12, "late": 1.0}
    assert fake.asked["run_metrics", "r1"] == 4


def test_qini_metrics_logged_on_a_finished_run_are_seen_within_a_minute() -> None:
    """MLflow takes metrics on a FINISHED run (only a deleted one refuses them): an evaluation
    job logging ``qini.*`` after training (the review's /tmp/review-mlflow/t2.py against MLflow
    3.17.2). Read before it, the run was kept as ``{'auc': 0.7}`` for good: the canary's qini
    gate Inconclusive, a stable's judging the canary on its floor alone. An ended run without
    any ``qini.*`` metric is now read again once ``unended_ttl``."""
    clock = [0.0]
    fake = RunStatusRegistry()
    fake.metrics["r1"] = {"auc": 0.7}
    fake.run_status["r1"] = "FINISHED"
    reads = RunReads(unended_ttl=60, ended_ttl=600, clock=lambda: clock[0])
    followers = [CachingRegistry(fake, (URI, ""), reads) for _ in range(10)]
    for step in range(100):  # 100 gate reads over 10 s
        clock[0] = step / 10
        assert dict(followers[step % 10].run_metrics("r1")) == {"auc": 0.7}
    assert fake.asked["run_metrics", "r1"] == 1  # rate-limited: once a minute at most
    fake.metrics["r1"]["qini.email"] = 0.12
    clock[0] = 60.0
    assert dict(followers[0].run_metrics("r1")) == {"auc": 0.7, "qini.email": 0.12}
    assert fake.asked["run_metrics", "r1"] == 2
    clock[0] = 659.0  # with qini metrics: kept for ended_ttl
    assert dict(followers[1].run_metrics("r1")) == {"auc": 0.7, "qini.email": 0.12}
    assert fake.asked["run_metrics", "r1"] == 2


def test_a_metrics_read_asks_again_for_the_runs_artifacts_mlflow_said_were_missing() -> None:
    """The evaluation logs the qini metrics and ``qini_bootstrap.json`` together: with the
    bootstrap's absence kept 10 minutes after the metrics were read again, the stable's qini
    was seen without its replicates (the canary judged on its floor alone) for that long."""
    clock = [0.0]
    fake = RunStatusRegistry()
    fake.metrics["r1"] = {"auc": 0.7}
    reads = RunReads(unended_ttl=60, ended_ttl=600, absent_ttl=600, clock=lambda: clock[0])
    client = CachingRegistry(fake, (URI, ""), reads)
    other = CachingRegistry(fake, (URI, "someone-else"), reads)
    for who in (client, other):
        assert dict(who.run_metrics("r1")) == {"auc": 0.7}
        with pytest.raises(RegistryNotFound):
            who.download_artifact_json("r1", REFERENCE_QINI_BOOTSTRAP)
    fake.metrics["r1"]["qini.email"] = 0.12
    fake.artifacts[("r1", REFERENCE_QINI_BOOTSTRAP)] = {"treatments": {}}
    clock[0] = 60.0
    assert dict(client.run_metrics("r1")) == {"auc": 0.7, "qini.email": 0.12}
    assert client.download_artifact_json("r1", REFERENCE_QINI_BOOTSTRAP) == {"treatments": {}}
    assert fake.asked["artifact", f"r1/{REFERENCE_QINI_BOOTSTRAP}"] == 3
    with pytest.raises(RegistryNotFound):  # another identity's answer is its own
        other.download_artifact_json("r1", REFERENCE_QINI_BOOTSTRAP)
    assert fake.asked["artifact", f"r1/{REFERENCE_QINI_BOOTSTRAP}"] == 3


def test_a_client_that_cannot_say_the_run_ended_keeps_its_metrics_for_the_ended_ttl() -> None:
    clock = [0.0]
    fake = CountingRegistry(metrics={"r1": {"qini.email": 0.05}})
    reads = RunReads(unended_ttl=60, ended_ttl=600, clock=lambda: clock[0])
    client = CachingRegistry(fake, (URI, ""), reads)
    assert dict(client.run_metrics("r1")) == {"qini.email": 0.05}
    fake.metrics["r1"]["qini.sms"] = 0.02
    clock[0] = 599.0
    assert dict(client.run_metrics("r1")) == {"qini.email": 0.05}
    clock[0] = 600.0
    assert dict(client.run_metrics("r1")) == {"qini.email": 0.05, "qini.sms": 0.02}
    assert fake.asked["run_metrics", "r1"] == 2


@pytest.mark.parametrize("status", ["FINISHED", "FAILED", "KILLED"])
def test_an_ended_runs_metrics_are_read_once(status: str) -> None:
    fake = RunStatusRegistry()
    fake.metrics["r1"] = {"qini.email": 0.12}
    fake.run_status["r1"] = status
    client = RegistryClients(lambda uri, credentials: fake).get(URI, None)
    for _ in range(3):
        assert dict(client.run_metrics("r1")) == {"qini.email": 0.12}
    assert fake.asked["run_metrics", "r1"] == 1


@pytest.mark.parametrize("status", ["RUNNING", "SCHEDULED", ""])
def test_a_run_that_never_ends_is_read_once_a_ttl(status: str) -> None:
    """A run left RUNNING for good (its training killed after ``log_model``): it was read from
    MLflow at every gate read of every follower (/tmp/review-final-a
    running_run_never_cached.py: 1,000 reads for 1,000 gate reads). Now once per
    ``unended_ttl``, by all followers together."""
    clock = [0.0]
    fake = RunStatusRegistry()
    fake.metrics["r1"] = {"qini.email": 0.12}
    fake.run_status["r1"] = status
    reads = RunReads(unended_ttl=60, clock=lambda: clock[0])
    followers = [CachingRegistry(fake, (URI, ""), reads) for _ in range(10)]
    for step in range(1000):  # 1,000 gate reads over 100 s
        clock[0] = step / 10
        assert dict(followers[step % 10].run_metrics("r1")) == {"qini.email": 0.12}
    assert fake.asked["run_metrics", "r1"] == 2  # at 0 s and at 60 s
    assert reads.size[0] == 1


