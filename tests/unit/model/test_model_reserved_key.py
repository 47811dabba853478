"""The key ``none`` means "no treatment" everywhere (``best_treatment``, decision ids, metric
labels, report handling), so no treatment may have it: a treatment named ``None`` would have its
decisions read as nothing sent and its delivery reports refused."""

from __future__ import annotations

import pandas as pd
import pytest
from tests.unit.domain.test_validation import _model

from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.model import keys, scoring
from uplift_operator.model.keys import NONE, treatment_key, treatment_keys
from uplift_operator.model.trainer import TrainConfig, prepare
from uplift_operator.runtime import events


def test_no_treatment_has_the_key_of_no_treatment() -> None:
    for name in ("None", "none", "NONE", " none ", "-None-"):
        assert treatment_key(name) == NONE
        with pytest.raises(ValueError, match="reserved for no treatment; rename the arm"):
            treatment_keys(["Mens E-Mail", name])
    # Names that only contain it keep their own key.
    assert treatment_keys(["None at all", "nonesuch"]) == ("none_at_all", "nonesuch")


def test_one_constant_for_no_treatment() -> None:
    assert keys.NONE == "none"
    assert getattr(scoring, "NONE") is keys.NONE and events.NONE is keys.NONE  # noqa: B009


def test_the_trainer_refuses_an_arm_named_none(synth: pd.DataFrame) -> None:
    frame = synth.assign(arm=synth["arm"].replace({"A": "None"}))
    cfg = TrainConfig(treatment_col="arm", outcome_col="y", control="ctrl",
                      numeric=("x1", "x2"), categorical=("region",), sample=600, quiet=True)
    with pytest.raises(ValueError, match="'None': its key 'none' is reserved for no treatment"):
        prepare(frame, cfg)


def test_the_operator_refuses_an_upliftmodel_treatment_named_none() -> None:
    """The API server refuses a treatment named ``none`` (a CEL rule since ea889490); an object
    stored before that rule keeps it, and the operator's own check of the keys says so before
    anything is deployed."""
    spec = _model(**{"treatments": [{"name": "mens-e-mail"}, {"name": "none"}]}).spec
    problems = validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES)
    assert any(p.startswith("spec.treatments: treatment 'none': its key 'none' is reserved")
               for p in problems), problems
