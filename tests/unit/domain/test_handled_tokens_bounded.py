"""``status.handledRequests`` is bounded whatever the request tokens: the last handled token of
each key is kept as the earlier ones are (``domain.requests.remembered``: a token longer than 64
characters as its ``sha256:`` digest), and the CRD says so (maxLength, maxProperties).

An annotation value may be 256 KiB: four request keys, each written once with such a token
(one at a time: the annotations of an object hold 256 KiB in all), kept 1 MiB in the status for
good, next to the gates' evidence, against etcd's 1.5 MiB a request. A status stored by a
release that kept the last token whole reads as the same token (not acted on again), and the
next status write stores its digest: within the CRD's maxLength in the same write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.services import test_campaign as campaign_sim

from uplift_operator.api.v1alpha1 import common as api_common
from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import requests as rq
from uplift_operator.domain.status import readable, status_patch

ROOT = Path(__file__).resolve().parents[3]
KEYS = (rq.PROMOTE_ANNOTATION, rq.ABORT_ANNOTATION, rq.RETRY_ANNOTATION,
        rq.EMERGENCY_ROLLBACK_ANNOTATION)
HUGE = 250 * 1024


def _huge(key: str, fill: str) -> str:
    return ("step:" if key == rq.PROMOTE_ANNOTATION else "") + fill * HUGE


def _size(status: dict[str, Any]) -> int:
    return len(json.dumps(status).encode())


def test_four_huge_tokens_keep_the_status_small_and_stay_handled() -> None:
    last: dict[str, str] = {}
    earlier: dict[str, list[str]] = {}
    tokens = [_huge(key, chr(ord("a") + i)) for i, key in enumerate(KEYS)]
    for token, key in zip(tokens, KEYS, strict=True):
        (request,) = rq.parse_requests({key: token})
        assert not rq.is_handled(request, last, earlier)
        last, earlier = rq.handled_after(request, last, earlier)
    assert all(len(value) <= rq.REMEMBERED_FORM_MAX == 71 for value in last.values())
    assert last[rq.ABORT_ANNOTATION] == rq.remembered(tokens[1])
    status = UpliftModelStatus.model_validate({"handledRequests": last}).to_wire()
    assert _size(status) < 1024  # was 1,024,217 bytes
    for token, key in zip(tokens, KEYS, strict=True):
        (request,) = rq.parse_requests({key: token})
        assert rq.is_handled(request, last, earlier) and not rq.is_replayed(request, last, earlier)
    # The next token of each key moves the digest among the earlier ones, not hashed again.
    for key in KEYS:
        (request,) = rq.parse_requests({key: _huge(key, "z")})
        last, earlier = rq.handled_after(request, last, earlier)
    assert earlier[rq.ABORT_ANNOTATION] == [rq.remembered(tokens[1])]
    (request,) = rq.parse_requests({rq.ABORT_ANNOTATION: tokens[1]})
    assert rq.is_replayed(request, last, earlier)


def test_a_token_an_earlier_release_kept_whole_is_the_same_token() -> None:
    """``handledRequests`` as a release before this one wrote it (the last token as written):
    handled, not acted on again; the next token of the key remembers it by its digest, and
    the token of another key kept whole is remembered too."""
    abort, retry = "a" * 5000, "r" * 300
    stored = {rq.ABORT_ANNOTATION: abort, rq.RETRY_ANNOTATION: retry}
    (request,) = rq.parse_requests({rq.ABORT_ANNOTATION: abort})
    assert rq.is_handled(request, stored, {}) and not rq.is_replayed(request, stored, {})
    (new,) = rq.parse_requests({rq.ABORT_ANNOTATION: "t2"})
    last, earlier = rq.handled_after(new, stored, {})
    assert last == {rq.ABORT_ANNOTATION: "t2", rq.RETRY_ANNOTATION: rq.remembered(retry)}
    assert earlier == {rq.ABORT_ANNOTATION: [rq.remembered(abort)]}
    assert rq.is_replayed(request, last, earlier)
    (again,) = rq.parse_requests({rq.RETRY_ANNOTATION: retry})
    assert rq.is_handled(again, last, earlier)


@pytest.mark.parametrize("model", [UpliftModelStatus, CampaignStatus])
def test_a_stored_whole_token_is_read_as_its_digest_and_written_so(model: Any) -> None:
    """Read, the stored status holds the digest (the CRD's maxLength would refuse the token as
    written); the status a pass decides from it differs there, so its write stores the digest:
    the object is within the CRD's bounds after that same write, whether or not the API server
    ratchets the unchanged fields."""
    whole = "x" * 300
    raw = {"handledRequests": {rq.ABORT_ANNOTATION: whole, rq.RETRY_ANNOTATION: "1"}}
    status, unreadable = readable(model, raw)
    assert unreadable == ()
    assert status.handled_requests == {rq.ABORT_ANNOTATION: rq.remembered(whole),
                                       rq.RETRY_ANNOTATION: "1"}
    patch = status_patch(raw, status.to_wire())
    assert patch is not None and patch["handledRequests"] == {rq.ABORT_ANNOTATION: rq.remembered(whole)}
    # A digest already stored is kept as it is, not hashed again.
    again, _ = readable(model, status.to_wire())
    assert again.handled_requests == status.handled_requests


def test_the_api_reads_a_token_as_the_domain_remembers_it() -> None:
    """One rule: the status model reads a stored token as ``remembered_as_kept`` keeps it."""
    for token in ("", "1", "y" * 64, "y" * 65, "z" * 5000, rq.remembered("q" * 99),
                  "sha256:" + "G" * 64, "é" * 70):
        read = api_common.StatusBase.model_validate({"handledRequests": {"k": token}})
        assert read.handled_requests == {"k": rq.remembered_as_kept(token)}


@pytest.mark.parametrize("crd", ["upliftmodels.uplift.dev.yaml", "campaigns.uplift.dev.yaml"])
def test_the_crd_bounds_handled_requests(crd: str) -> None:
    for folder in (ROOT / "crds", ROOT / "charts" / "uplift-operator" / "crds"):
        document = yaml.safe_load((folder / crd).read_text())
        (version,) = document["spec"]["versions"]
        schema = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
        handled = schema["handledRequests"]
        assert handled["additionalProperties"]["maxLength"] == rq.REMEMBERED_FORM_MAX
        assert handled["maxProperties"] >= len(KEYS)


def test_a_campaign_acts_once_on_a_huge_token_and_keeps_its_digest() -> None:
    sim = campaign_sim.Sim()
    sim.tick()
    token = "step:" + "p" * HUGE
    sim.annotate(rq.PROMOTE_ANNOTATION, token)
    assert "StepAdvanced" in campaign_sim.reasons(sim.tick(1))
    at = sim.status["currentStep"]
    assert sim.status["handledRequests"] == {rq.PROMOTE_ANNOTATION: rq.remembered(token)}
    assert campaign_sim.reasons(sim.tick(1)) == []  # handled: not promoted again
    assert sim.status["currentStep"] == at
    assert _size(sim.status) < HUGE // 4
