"""Treatment names whose runtime keys collide or exceed 64 characters are refused by the API
server, not only by the operator once stored (InvalidSpec): ``[a-b, a--b]`` (both ``a_b``),
``"1" + "a" * 62`` (``t_1aaa…``, 65). A treatment name is a ``Name`` (lower-case letters, digits,
'-', alphanumeric at both ends), whose key (``model.keys.treatment_key``) is the name with each
run of '-' one '_', prefixed ``t_`` when it starts with a digit. CEL has no regex replace, so the
rules forbid '--' (then '-' maps to '_' one to one), bound a digit-first name to 62 characters,
and refuse the one pair left that shares a key: ``t-<n>`` and ``<n>``, ``<n>`` starting with a
digit. ``tests.support.cel`` reads no ``contains``/``matches``/``exists``: the rules' text is
pinned here and read as Python (``_admitted``), which is checked against the keys' own function
over every short name; the real API server's validator refuses the review's two cases and takes
the samples (review harness)."""

from __future__ import annotations

import itertools
import re
from typing import Any

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.model.keys import MAX_KEY_LENGTH, treatment_key, treatment_keys

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"]["properties"]["spec"]
    return schema


def test_the_rules_are_on_the_crd() -> None:
    item = _schema()["properties"]["treatments"]["items"]
    assert [r["rule"] for r in item["x-kubernetes-validations"]] == [
        "!self.name.contains('--')", "!self.name.matches('^[0-9]') || self.name.size() <= 62",
        "self.name != 'none'"]
    assert ("self.treatments.all(t, !t.name.matches('^[0-9]') || "
            "!self.treatments.exists(u, u.name == 't-' + t.name))") in [
        r["rule"] for r in _schema()["x-kubernetes-validations"]]


def _admitted(names: list[str]) -> bool:
    """The four rules, as Python."""
    return (all("--" not in n and (not n[0].isdigit() or len(n) <= 62) and n != "none"
                for n in names)
            and all(not n[0].isdigit() or f"t-{n}" not in names for n in names))


def _keys_fit(names: list[str]) -> bool:
    try:
        treatment_keys(names)
    except ValueError:
        return False
    return True


def test_what_the_rules_admit_the_runtime_keys_take() -> None:
    alphabet = "a1t-"
    names = [n for size in range(1, 6) for n in map("".join, itertools.product(alphabet,
                                                                             repeat=size))
             if _NAME.match(n)] + ["none"]  # the one name whose key is that of no treatment
    for pair in itertools.combinations(names, 2):
        if _admitted(list(pair)):
            assert _keys_fit(list(pair)), pair
        elif "--" not in "".join(pair):  # refused only for a key shared or reserved
            assert not _keys_fit(list(pair)), pair


def test_the_reviews_cases_and_the_longest_names() -> None:
    assert not _admitted(["a-b", "a--b"]) and not _keys_fit(["a-b", "a--b"])
    assert not _admitted(["1" + "a" * 62]) and not _keys_fit(["1" + "a" * 62])
    for longest in ("1" + "a" * 61, "a" * 63, "a-" * 31 + "a"):
        assert _admitted([longest]) and len(treatment_key(longest)) <= MAX_KEY_LENGTH


def test_the_name_whose_key_is_that_of_no_treatment_is_refused() -> None:
    # The one name whose key is ``none`` (what the runtime records when nothing is sent).
    assert not _admitted(["none"]) and not _keys_fit(["none"])
    assert not _admitted(["email", "none"]) and not _keys_fit(["email", "none"])
    assert _admitted(["none-1", "non"]) and _keys_fit(["none-1", "non"])
