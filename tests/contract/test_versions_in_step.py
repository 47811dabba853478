"""The release's version is written in six places, and they move together: the package
(pyproject.toml, ``uplift_operator.__version__``), the operator image the chart and the manifests
run (Chart.yaml ``appVersion``, manifests/operator.yaml, manifests/Kustomization ``newTag``) and
the runtime image the operator renders into serving pods by default (settings.py's
``--runtime-image`` / ``UPLIFT_RUNTIME_IMAGE`` default). One left behind at a release runs an
operator of one version with a runtime of another, or installs another operator than the chart
says (docs/install.md, "kustomize").

The chart's ``runtimeImage`` is empty unless pinned: its runtime is the operator's own tag
(``image.tag``, default ``appVersion``). A fixed runtime tag in values.yaml stayed behind when
the operator moved by ``--set image.tag`` or by ``helm upgrade --reuse-values`` (which keeps the
installed release's values.yaml), an operator of one version rendering a runtime of another."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.contract.test_packaging import CHART, HERE, KUBE_VERSION, ROOT, by_kind, helm_template, run, tools

import uplift_operator
from uplift_operator.settings import OperatorConfig

OPERATOR_IMAGE = "ghcr.io/uplift-dev/uplift-operator"
RUNTIME_IMAGE = "ghcr.io/uplift-dev/uplift-runtime"
#: Where each is written, relative to the repository.
FILES = ("pyproject.toml", "operator/uplift_operator/__init__.py",
         "operator/uplift_operator/settings.py", "charts/uplift-operator/Chart.yaml",
         "manifests/operator.yaml", "manifests/Kustomization")
#: A release before this chart's runtimeImage followed the operator (ddca979, fixed at 0.1.0).
PREVIOUS_RELEASE = HERE / "values-ddca979.yaml"


def _tag(image: str, repository: str) -> str:
    name, _, tag = image.rpartition(":")
    assert name == repository, image
    return tag


def versions(root: Path) -> dict[str, str]:
    """Each place's version, as written in the files under ``root``."""
    def text(path: str) -> str:
        return (root / path).read_text()

    [init] = re.findall(r'^__version__ = "([^"]+)"$', text(FILES[1]), re.MULTILINE)
    [default] = re.findall(r'^    runtime_image: str = "([^"]+)"$', text(FILES[2]), re.MULTILINE)
    [deployment] = [d for d in yaml.safe_load_all(text(FILES[4])) if d and d["kind"] == "Deployment"]
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                   if c["name"] == "operator"]
    [pin] = [i for i in yaml.safe_load(text(FILES[5]))["images"] if i["name"] == OPERATOR_IMAGE]
    return {
        "pyproject.toml version": tomllib.loads(text(FILES[0]))["project"]["version"],
        "uplift_operator.__version__": init,
        "settings.py default runtime image": _tag(default, RUNTIME_IMAGE),
        "Chart.yaml appVersion": str(yaml.safe_load(text(FILES[3]))["appVersion"]),
        "manifests/operator.yaml image": _tag(container["image"], OPERATOR_IMAGE),
        "manifests/Kustomization newTag": str(pin["newTag"]),
    }


def out_of_step(found: dict[str, str]) -> dict[str, str]:
    """The places whose version is not the package's."""
    release = found["pyproject.toml version"]
    return {place: version for place, version in found.items() if version != release}


def test_every_place_has_the_packages_version() -> None:
    found = versions(ROOT)
    assert len(found) == 6 and not out_of_step(found), found
    # What the files say is what runs: the installed package and the operator's own default.
    assert found["uplift_operator.__version__"] == uplift_operator.__version__
    assert OperatorConfig.runtime_image == f"{RUNTIME_IMAGE}:{uplift_operator.__version__}"


def test_the_chart_runs_that_operator_with_that_runtime() -> None:
    [deployment] = by_kind(helm_template(), "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    version = uplift_operator.__version__
    assert container["image"] == f"{OPERATOR_IMAGE}:{version}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["UPLIFT_RUNTIME_IMAGE"] == f"{RUNTIME_IMAGE}:{version}"


#: A runtime allow-list, so that the SeldonDeployments policy names the operator's runtime image.
ALLOW_LIST = ["--set-json", 'allowed.runtimeImages=["registry\\\\.example/other:.*"]']
MIRROR = "registry.example.com/mirror/uplift-runtime:0.1.0"


def _images(docs: list[dict[str, Any]]) -> tuple[str, str, str]:
    """The operator's image, its UPLIFT_RUNTIME_IMAGE and the runtime image the SeldonDeployments
    policy always admits."""
    [deployment] = by_kind(docs, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    [policy] = [d for d in by_kind(docs, "ValidatingAdmissionPolicy")
                if d["metadata"]["name"].endswith("-seldondeployments")]
    [admitted] = [json.loads(found) for v in policy["spec"]["validations"]
                  for found in re.findall(r'c\.\?image\.orValue\(""\) == ("[^"]*")',
                                          v["expression"])]
    return container["image"], env["UPLIFT_RUNTIME_IMAGE"], admitted


def test_the_charts_runtime_image_is_unset_so_that_it_follows_the_operator() -> None:
    assert yaml.safe_load((CHART / "values.yaml").read_text())["runtimeImage"] == ""


@pytest.mark.parametrize(("values", "runtime"), [
    (["--set", "image.tag=0.2.0"], f"{RUNTIME_IMAGE}:0.2.0"),
    (["--set", "image.tag=0.2.0", "--set", f"runtimeImage={MIRROR}"], MIRROR),
    (["--set", "image.tag=0.2.0", "--set", "runtimeImage="], f"{RUNTIME_IMAGE}:0.2.0"),
], ids=["tag", "pinned", "set-empty"])
def test_the_runtime_follows_the_operators_tag_unless_pinned(values: list[str],
                                                             runtime: str) -> None:
    """`--set image.tag=X` moves the runtime to X too, in the operator's environment and in what
    the SeldonDeployments policy admits; a runtimeImage set stays where it is set."""
    assert _images(helm_template(*ALLOW_LIST, *values)) == (
        f"{OPERATOR_IMAGE}:0.2.0", runtime, runtime)


def test_an_operator_by_digest_runs_the_runtime_of_the_charts_release() -> None:
    digest = "sha256:" + "0" * 64
    assert _images(helm_template(*ALLOW_LIST, "--set", f"image.digest={digest}")) == (
        f"{OPERATOR_IMAGE}@{digest}", f"{RUNTIME_IMAGE}:{uplift_operator.__version__}",
        f"{RUNTIME_IMAGE}:{uplift_operator.__version__}")


def _upgraded(tmp_path: Path, installed: Path, *args: str) -> tuple[str, str, str]:
    """`helm upgrade --reuse-values` to a chart of the next release (appVersion 0.2.0): Helm
    renders it with the installed release's values in place of the new values.yaml."""
    chart = tmp_path / "uplift-operator"
    shutil.copytree(CHART, chart)
    manifest = chart / "Chart.yaml"
    manifest.write_text(re.sub(r'(?m)^appVersion: .*$', 'appVersion: "0.2.0"',
                               manifest.read_text()))
    shutil.copyfile(installed, chart / "values.yaml")
    result = run(tools()["helm"], "template", "uplift", str(chart), "-n", "uplift-system",
                 "--kube-version", KUBE_VERSION, *ALLOW_LIST, *args)
    assert result.returncode == 0, result.stderr
    return _images([d for d in yaml.safe_load_all(result.stdout) if d])


def test_an_upgrade_with_reuse_values_moves_the_runtime_with_the_operator(
        tmp_path: Path) -> None:
    """Installed from this chart, the runtime is not a value of the release: the next chart's
    appVersion moves both. From the previous release, whose values.yaml fixed the runtime at
    0.1.0, `--reuse-values` keeps that as a pin until `--set runtimeImage=` clears it
    (docs/install.md, "Upgrading from the previous release")."""
    both = (f"{OPERATOR_IMAGE}:0.2.0", f"{RUNTIME_IMAGE}:0.2.0", f"{RUNTIME_IMAGE}:0.2.0")
    assert _upgraded(tmp_path / "this", CHART / "values.yaml") == both
    assert _upgraded(tmp_path / "pinned", CHART / "values.yaml",
                     "--set", f"runtimeImage={MIRROR}")[1:] == (MIRROR, MIRROR)
    assert _upgraded(tmp_path / "previous", PREVIOUS_RELEASE)[1] == f"{RUNTIME_IMAGE}:0.1.0"
    assert _upgraded(tmp_path / "cleared", PREVIOUS_RELEASE, "--set", "runtimeImage=") == both


def test_one_place_left_behind_is_named(tmp_path: Path) -> None:
    for path in FILES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, tmp_path / path)
    assert not out_of_step(versions(tmp_path))
    release = versions(tmp_path)["pyproject.toml version"]
    settings = tmp_path / "operator/uplift_operator/settings.py"
    settings.write_text(settings.read_text().replace(f"uplift-runtime:{release}",
                                                     "uplift-runtime:0.0.9"))
    kustomization = tmp_path / "manifests/Kustomization"
    kustomization.write_text(kustomization.read_text().replace(f'newTag: "{release}"',
                                                               'newTag: "0.0.9"'))
    assert out_of_step(versions(tmp_path)) == {
        "settings.py default runtime image": "0.0.9", "manifests/Kustomization newTag": "0.0.9"}


def test_the_documented_overlay_mirrors_the_runtime_of_the_same_release(tmp_path: Path) -> None:
    """docs/install.md's kustomize overlay, built as written (a digest in place of
    ``<digest>``): the operator from the mirror, the runtime image of the same release too."""
    docs = (ROOT / "docs" / "install.md").read_text()
    overlays = re.findall(r"```yaml\n(# my-overlay/kustomization.yaml\n.*?)```", docs, re.DOTALL)
    # The mirror's overlay (the namespace one, beside it, has its own test).
    [overlay] = [text for text in overlays if "UPLIFT_RUNTIME_IMAGE" in text]
    digest = "sha256:" + "0" * 64
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    (tmp_path / "my-overlay").mkdir()
    (tmp_path / "my-overlay" / "kustomization.yaml").write_text(
        overlay.replace("sha256:<digest>", digest))
    built = run(tools()["kustomize"], "build", str(tmp_path / "my-overlay"))
    assert built.returncode == 0, built.stderr
    [deployment] = by_kind([d for d in yaml.safe_load_all(built.stdout) if d], "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"registry.example.com/mirror/uplift-operator@{digest}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["UPLIFT_RUNTIME_IMAGE"] == (
        f"registry.example.com/mirror/uplift-runtime:{uplift_operator.__version__}")
