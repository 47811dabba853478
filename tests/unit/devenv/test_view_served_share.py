"""The live view's traffic row shows what the router served beside what the SeldonDeployment
declares: it used to draw the declared weights only, which say nothing of the split itself."""

from __future__ import annotations

from collections import Counter

from uplift_operator.devenv.router import Route, WeightedRouter
from uplift_operator.devenv.view import split_bar


def test_served_share_counts_the_rows_under_the_weights_in_force() -> None:
    router = WeightedRouter()
    assert router.served_share("ns", "m") == ({}, 0)
    before = (("m-v1", 100),)
    now = (("m-v1", 70), ("m-v2", 30))
    router.served[("ns", "m")] = Counter({(before, "m-v1"): 5000,  # an earlier split: not counted
                                          (now, "m-v1"): 690, (now, "m-v2"): 310})
    router.set_routes("ns", "m", [Route("m-v1", "1", 70, "http://a"),
                                  Route("m-v2", "2", 30, "http://b", canary=True)])
    shares, rows = router.served_share("ns", "m")
    assert rows == 1000
    assert shares == {"1": 0.69, "2": 0.31}


def test_the_bar_draws_the_served_share_beside_the_declared_weights() -> None:
    text = split_bar({"2": 30, "1": 70}, "2", width=10, served={"1": 0.69, "2": 0.31},
                     served_rows=1000).plain
    declared, served = text.split("\n")
    assert declared == "█" * 10 + "  v1 70 %  v2 30 %  declared"
    assert served == "█" * 10 + "  v1 69.0 %  v2 31.0 %  served (1,000 rows)"
    # Nothing served yet under these weights: the declared bar alone, as before.
    assert "\n" not in split_bar({"2": 30, "1": 70}, "2", width=10, served={}).plain
