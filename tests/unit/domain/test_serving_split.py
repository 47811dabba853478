"""``domain.serving_split.describe``: the serving graph's split in the words of
``status.servingSplit`` and the ``Serving`` printer column."""

from __future__ import annotations

import pytest

from uplift_operator.api import crds
from uplift_operator.api.v1alpha1 import UpliftModelStatus
from uplift_operator.domain import serving_split
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.ramp import TrafficSplit
from uplift_operator.services import upliftmodel


@pytest.mark.parametrize(("weights", "words"), [
    ([("2", 100), ("1", 0)], "v1 0%, v2 100%"),  # a restore: the replaced stable keeps it all
    ([("1", 90), ("2", 10)], "v1 90%, v2 10%"),
    ([("10", 50), ("9", 50)], "v9 50%, v10 50%"),  # by number, not as text
    ([("1", 100)], "v1 100%"),
    # A hand edit: an unversioned or unprintable predictor, a weight out of range.
    ([("", 10), ("1", 90)], "v1 90%, v? 10%"),
    ([("a\x1b[2J", 5), ("1", 150)], "v1 ?%, v? 5%"),
    ([], None),
    (None, None),
])
def test_describe(weights: list[tuple[str, int]] | None, words: str | None) -> None:
    assert serving_split.describe(weights) == words


def test_a_graph_of_many_predictors_is_worded_within_the_fields_bound() -> None:
    weights = [("9" * 16, 100)] * 12 + [("x" * 300, 0)] * 40
    words = serving_split.describe(weights)
    assert words is not None and words.endswith(", +44 more")
    assert len(words) <= serving_split.MAX_LENGTH
    UpliftModelStatus.model_validate({"servingSplit": words})


def test_a_restores_decided_traffic_reads_as_the_graph_does() -> None:
    """The restore's traffic (``test_ramp_restore.restoring``: 1 at 0 %, 2 at 100 %), once
    applied, worded as the status words a decided split (``services.upliftmodel``'s
    ``_serving_split``): as the graph's own weights read."""
    restore = TrafficSplit("1", "2", 100)
    applied = status_logic.Applied("SeldonDeployment m", "")
    words = upliftmodel._serving_split(None, restore, applied, None)  # type: ignore[arg-type]
    assert words == serving_split.describe([("2", 100), ("1", 0)]) == "v1 0%, v2 100%"


@pytest.mark.parametrize("version", ["1\n", "1\r\n", "\n1", "1 "])
def test_a_version_with_a_line_break_or_space_is_shown_as_unknown(version: str) -> None:
    assert serving_split.describe([(version, 100)]) == "v? 100%"


def test_a_status_without_the_field_parses() -> None:
    status = UpliftModelStatus.model_validate({"stableVersion": "1", "canaryWeight": 0})
    assert status.serving_split is None and "servingSplit" not in status.to_wire()


def test_the_serving_printer_column_shows_it_by_default() -> None:
    columns = {c["name"]: c for c in crds.UPLIFTMODEL.printer_columns}
    serving = columns["Serving"]
    assert serving["jsonPath"] == ".status.servingSplit" and serving["type"] == "string"
    assert "priority" not in serving  # priority 0: shown without -o wide
    names = [c["name"] for c in crds.UPLIFTMODEL.printer_columns]
    assert names.index("Serving") == names.index("Weight") + 1
