"""A version or alias read MLflow refused for a reason that is neither "not found" nor the
credentials (``RegistryRequestError``: a 4xx it explains, an answer without a model version)
is the reference's problem, ``InvalidModel`` with MLflow's words, Degraded after the grace, as
the same refusal of the contract read is; it read ``RegistryUnavailable``, waited for for
ever."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.services.fakes import FakeRegistry

from uplift_operator.adapters.mlflow_registry import RegistryRequestError
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain.stuck import UNRESOLVED_PROBLEMS
from uplift_operator.services.resolution import AliasKey, Resolver, Scope

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
SCOPE: Scope = ("http://mlflow", "", "")
KEY: AliasKey = (SCOPE, "m", "champion")


class _Refusing(FakeRegistry):
    """A fake MLflow that refuses every version and alias read while ``refusing``."""

    refusing: bool = True

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        if self.refusing:
            self.calls += 1
            raise RegistryRequestError("Invalid value for parameter 'version'", status_code=400,
                                       error_code="INVALID_PARAMETER_VALUE")
        return super().resolve(name, version, alias)


def _ref(**model: str) -> ModelReference:
    return ModelReference.model_validate({"registeredModel": "m", **model})


def test_a_refused_version_or_alias_read_is_invalid_model_with_mlflows_words() -> None:
    for model, what in (({"alias": "champion"}, "alias champion"), ({"version": "3"},
                                                                     "version 3")):
        resolution = Resolver().resolve(SCOPE, _ref(**model), _Refusing(), T0)
        assert resolution.reason == "InvalidModel"
        assert resolution.reason in UNRESOLVED_PROBLEMS  # Degraded after the grace
        assert resolution.message == (
            f"MLflow refused the read of {what} of m (HTTP 400 INVALID_PARAMETER_VALUE): "
            "Invalid value for parameter 'version'")


def test_an_answer_without_a_model_version_is_invalid_model() -> None:
    class _Empty(FakeRegistry):
        def resolve(self, name: str, version: str | None = None,
                    alias: str | None = None) -> Any:
            raise RegistryRequestError("MLflow answered without a model_version")

    resolution = Resolver().resolve(SCOPE, _ref(version="3"), _Empty(), T0)
    assert (resolution.reason, resolution.message) == (
        "InvalidModel", "MLflow refused the read of version 3 of m: MLflow answered without a "
        "model_version")


def test_an_alias_read_refused_overrides_the_answer_held_and_is_told() -> None:
    """The refusal is news of the alias: stamped (the poller reads it again an interval
    later), its followers told, and a follower whose answer is still fresh by a longer interval
    is not answered Resolved from it."""
    registry, resolver = _Refusing(), Resolver()
    registry.refusing = False
    registry.add("m", "1")
    registry.aliases[("m", "champion")] = "1"
    told: list[AliasKey] = []
    resolver.moved.append(told.append)
    assert resolver.resolve(SCOPE, _ref(alias="champion", aliasRefreshInterval="10m"),
                            registry, T0).ok
    registry.refusing = True
    refused = resolver.resolve(SCOPE, _ref(alias="champion", aliasRefreshInterval="30s"),
                               registry, T0 + dt.timedelta(seconds=31))
    assert refused.reason == "InvalidModel" and KEY in resolver._failed and told == [KEY]
    assert refused.desired is not None and refused.desired.version == "1"  # the version held
    longer = resolver.resolve(SCOPE, _ref(alias="champion", aliasRefreshInterval="10m"),
                              registry, T0 + dt.timedelta(seconds=40))
    assert longer.reason == "InvalidModel"
    registry.refusing = False
    assert resolver.resolve(SCOPE, _ref(alias="champion", aliasRefreshInterval="30s"),
                            registry, T0 + dt.timedelta(seconds=80)).ok
    assert KEY not in resolver._failed and told == [KEY, KEY]
