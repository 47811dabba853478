"""``--narrow-serving-placement`` and ``--allowed-image-pull-secret`` (and their variables)
reach the operator's ``ServingPolicy``: the chart sets them from admissionPolicy.enabled and
allowed.imagePullSecrets, so that the operator refuses what its SeldonDeployments policy
refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.config import kube_config
from tests.unit.handlers.test_lifecycle_dependencies import KUBECONFIG

from uplift_operator.handlers import lifecycle
from uplift_operator.settings import parse_args

VARIABLES = ("UPLIFT_NARROW_SERVING_PLACEMENT", "UPLIFT_ALLOWED_IMAGE_PULL_SECRETS",
             "UPLIFT_ALLOWED_IMAGE_PULL_SECRET")


@pytest.fixture(autouse=True)
def _no_uplift_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def test_off_and_empty_by_default() -> None:
    config = parse_args(["-A"])
    assert config.narrow_serving_placement is False
    assert config.allowed_image_pull_secrets == ()


def test_the_flags() -> None:
    config = parse_args(["-A", "--narrow-serving-placement",
                         "--allowed-image-pull-secret=registry-pull",
                         "--allowed-image-pull-secret", "registry.b"])
    assert config.narrow_serving_placement is True
    assert config.allowed_image_pull_secrets == ("registry-pull", "registry.b")


@pytest.mark.parametrize("variable", ["UPLIFT_ALLOWED_IMAGE_PULL_SECRETS",
                                      "UPLIFT_ALLOWED_IMAGE_PULL_SECRET"])
def test_the_environment(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv("UPLIFT_NARROW_SERVING_PLACEMENT", "TRUE")
    monkeypatch.setenv(variable, "registry-pull, registry-b")
    config = parse_args(["-A"])
    assert config.narrow_serving_placement is True
    assert config.allowed_image_pull_secrets == ("registry-pull", "registry-b")


def test_a_switch_variable_neither_true_nor_false_is_refused(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UPLIFT_NARROW_SERVING_PLACEMENT", "1")
    with pytest.raises(SystemExit) as exit_:
        parse_args(["-A"])
    assert exit_.value.code == 2
    assert "UPLIFT_NARROW_SERVING_PLACEMENT" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["Registry", "registry_pull", "registry-.*", "-x"])
def test_a_pull_secret_that_is_not_a_secret_name_is_refused(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(["-A", f"--allowed-image-pull-secret={name}"])
    assert exit_.value.code == 2
    assert "--allowed-image-pull-secret" in capsys.readouterr().err


def test_both_reach_the_passes_serving_policy(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    policy = lifecycle.dependencies(parse_args([
        "-A", "--narrow-serving-placement",
        "--allowed-image-pull-secret=registry-pull"])).policy
    assert policy.narrow_placement is True
    assert policy.image_pull_secrets == ("registry-pull",)
    assert lifecycle.dependencies(parse_args(["-A"])).policy.narrow_placement is False
