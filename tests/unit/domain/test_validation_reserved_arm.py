"""A registered version the serving runtime refuses to load is refused before it is deployed.

A version trained before the trainer refused it may score an arm named ``None``: its key is
``none``, the key of no treatment, and the runtime refuses the version when it loads it
(``treatment_keys`` in ``runtime.engine``) whichever treatments the spec lists. Passed by the
operator, a canary of it was only waited for and a stable re-rendered never loaded."""

from __future__ import annotations

from tests.unit.domain.test_validation import CONTRACT, HILLSTROM_INPUTS, _model

from uplift_operator.domain import validation


def _scoring(treatments: dict[str, str]) -> validation.ModelContract:
    return validation.ModelContract("hillstrom-uplift", "3", HILLSTROM_INPUTS,
                                    frozenset(HILLSTROM_INPUTS) - {"unit_id"}, treatments)


def test_a_version_with_an_arm_named_none_is_refused_though_the_spec_lists_others() -> None:
    assert CONTRACT.treatments is not None
    contract = _scoring({**CONTRACT.treatments, "none": "None"})
    assert validation.validate_against_model(_model().spec, contract) == [
        "version 3 of 'hillstrom-uplift' scores a treatment whose key is 'none' ('None'), the "
        "key of no treatment: the serving runtime refuses to load it; retrain with the arm "
        "renamed"]


def test_other_keys_the_runtime_refuses_refuse_the_version() -> None:
    assert CONTRACT.treatments is not None
    long_name = "x" * 65
    contract = _scoring({**CONTRACT.treatments, "x" * 65: long_name})
    problems = validation.validate_against_model(_model().spec, contract)
    assert len(problems) == 1
    assert problems[0].startswith("version 3 of 'hillstrom-uplift' cannot be served: treatment "
                                  f"{long_name!r}: its key")


def test_a_version_whose_arms_load_is_not_refused() -> None:
    assert validation.validate_against_model(_model().spec, CONTRACT) == []
