"""The release's version is written in seven places, and they move together: the package
(pyproject.toml, ``uplift_operator.__version__``), the operator image the chart and the manifests
run (Chart.yaml ``appVersion``, manifests/operator.yaml, manifests/Kustomization ``newTag``) and
the runtime image the operator renders into serving pods by default (settings.py's
``--runtime-image`` / ``UPLIFT_RUNTIME_IMAGE`` default, the chart's ``runtimeImage``). One left
behind at a release runs an operator of one version with a runtime of another, or installs
another operator than the chart says (docs/install.md, "kustomize")."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import yaml
from tests.contract.test_packaging import ROOT, by_kind, helm_template, run, tools

import uplift_operator
from uplift_operator.settings import OperatorConfig

OPERATOR_IMAGE = "ghcr.io/uplift-dev/uplift-operator"
RUNTIME_IMAGE = "ghcr.io/uplift-dev/uplift-runtime"
#: Where each is written, relative to the repository.
FILES = ("pyproject.toml", "operator/uplift_operator/__init__.py",
         "operator/uplift_operator/settings.py", "charts/uplift-operator/Chart.yaml",
         "charts/uplift-operator/values.yaml", "manifests/operator.yaml", "manifests/Kustomization")


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
    [deployment] = [d for d in yaml.safe_load_all(text(FILES[5])) if d and d["kind"] == "Deployment"]
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                   if c["name"] == "operator"]
    [pin] = [i for i in yaml.safe_load(text(FILES[6]))["images"] if i["name"] == OPERATOR_IMAGE]
    return {
        "pyproject.toml version": tomllib.loads(text(FILES[0]))["project"]["version"],
        "uplift_operator.__version__": init,
        "settings.py default runtime image": _tag(default, RUNTIME_IMAGE),
        "Chart.yaml appVersion": str(yaml.safe_load(text(FILES[3]))["appVersion"]),
        "values.yaml runtimeImage": _tag(yaml.safe_load(text(FILES[4]))["runtimeImage"],
                                         RUNTIME_IMAGE),
        "manifests/operator.yaml image": _tag(container["image"], OPERATOR_IMAGE),
        "manifests/Kustomization newTag": str(pin["newTag"]),
    }


def out_of_step(found: dict[str, str]) -> dict[str, str]:
    """The places whose version is not the package's."""
    release = found["pyproject.toml version"]
    return {place: version for place, version in found.items() if version != release}


def test_every_place_has_the_packages_version() -> None:
    found = versions(ROOT)
    assert len(found) == 7 and not out_of_step(found), found
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


def test_one_place_left_behind_is_named(tmp_path: Path) -> None:
    for path in FILES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, tmp_path / path)
    assert not out_of_step(versions(tmp_path))
    release = versions(tmp_path)["pyproject.toml version"]
    values = tmp_path / "charts/uplift-operator/values.yaml"
    values.write_text(values.read_text().replace(f"uplift-runtime:{release}",
                                                 "uplift-runtime:0.0.9"))
    kustomization = tmp_path / "manifests/Kustomization"
    kustomization.write_text(kustomization.read_text().replace(f'newTag: "{release}"',
                                                               'newTag: "0.0.9"'))
    assert out_of_step(versions(tmp_path)) == {
        "values.yaml runtimeImage": "0.0.9", "manifests/Kustomization newTag": "0.0.9"}


def test_the_documented_overlay_mirrors_the_runtime_of_the_same_release(tmp_path: Path) -> None:
    """docs/install.md's kustomize overlay, built as written (a digest in place of
    ``<digest>``): the operator from the mirror, the runtime image of the same release too."""
    docs = (ROOT / "docs" / "install.md").read_text()
    [overlay] = re.findall(r"```yaml\n(# my-overlay/kustomization.yaml\n.*?)```", docs, re.DOTALL)
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
