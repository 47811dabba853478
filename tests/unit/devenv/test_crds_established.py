"""What the demo and the tests poll instead of `kubectl wait --for=condition=Established`, which
fails at once on a CRD that has no status yet (a CI run lost a test to it under load)."""

from __future__ import annotations

from typing import Any

from uplift_operator.devenv.controlplane import crds_established


def crd(*conditions: tuple[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "CustomResourceDefinition", "metadata": {"name": "x"}}
    if conditions:
        body["status"] = {"conditions": [{"type": t, "status": s} for t, s in conditions]}
    return body


ESTABLISHED = crd(("NamesAccepted", "True"), ("Established", "True"))


def test_one_crd_is_read_as_the_object_kubectl_prints() -> None:
    assert crds_established(ESTABLISHED, 1)
    assert not crds_established(crd(), 1)  # no status yet: what kubectl wait fails on
    assert not crds_established(crd(("NamesAccepted", "True"), ("Established", "False")), 1)


def test_several_are_read_as_a_list_and_every_one_must_be_established() -> None:
    assert crds_established({"kind": "List", "items": [ESTABLISHED, ESTABLISHED]}, 2)
    assert not crds_established({"kind": "List", "items": [ESTABLISHED, crd()]}, 2)
    assert not crds_established({"kind": "List", "items": [ESTABLISHED]}, 2)  # one missing
