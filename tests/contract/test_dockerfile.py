"""The Dockerfile keeps its promises (issue #12): base pinned by digest, dependencies from the
hashed locks before the source, the runtime's MLServer settings matching the rendered
SeldonDeployment, and a build context that carries no repository clutter."""

from __future__ import annotations

import re
from pathlib import Path

from uplift_operator.render.seldon import METRICS_DIR

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _stage(name: str) -> str:
    match = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert match, f"no stage {name}"
    return match.group(1)


def test_base_image_is_pinned_by_digest() -> None:
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11[\w.\-]*-slim[\w\-]*@sha256:[0-9a-f]{64}", base), base
    froms = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert froms[0] == "${PYTHON_IMAGE}" and all(f in {"${PYTHON_IMAGE}", "python", "app"}
                                                 for f in froms), froms


def test_each_image_installs_only_from_its_lock_with_hashes() -> None:
    for stage, lock in (("operator-deps", "operator.lock"), ("runtime-deps", "runtime.lock")):
        body = _stage(stage)
        assert f"COPY requirements/{lock} " in body and (ROOT / "requirements" / lock).exists()
        # A virtualenv without pip (and the setuptools `python -m venv` adds): the builder's pip
        # installs the lock into it, so /venv holds the lock's packages and nothing else.
        assert "python -m venv --without-pip /venv" in body
        assert re.search(r"pip --python /venv/bin/python install --no-deps --require-hashes "
                         rf"-r /tmp/{re.escape(lock)}$", body, re.MULTILINE)
        assert "/venv/bin/pip" not in body
        assert "COPY operator" not in body  # dependencies before (and without) the source


def test_final_images_carry_no_unlocked_python_packages() -> None:
    """The base image's own pip, setuptools and wheel (outside any lock) are removed from the
    stage both final images start from, before anything runs from /venv."""
    app = _stage("app")
    assert re.search(r"python -m pip uninstall --yes pip setuptools wheel$", app, re.MULTILINE)
    assert app.index("pip uninstall") < app.index("ENV PATH=/venv/bin")
    for stage in ("operator", "runtime"):
        assert re.search(r"^FROM app AS " + stage + "$", DOCKERFILE, re.MULTILINE)


def test_final_images_copy_dependencies_before_source_and_run_unprivileged() -> None:
    for stage, deps in (("operator", "operator-deps"), ("runtime", "runtime-deps")):
        body = _stage(stage)
        assert body.index(f"COPY --from={deps} /venv") < body.index("COPY operator/uplift_operator")
        assert "USER 10001" in body


def test_runtime_image_sets_what_the_seldon_deployment_sets() -> None:
    body = _stage("runtime")
    assert "MLSERVER_PARALLEL_WORKERS=0" in body
    assert f"MLSERVER_METRICS_DIR={METRICS_DIR}" in body
    assert f"chown 10001:10001 {METRICS_DIR}" in body


def test_build_context_is_an_allow_list() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines()
             if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:] for ln in lines if ln.startswith("!")}
    assert allowed == {"requirements/*.lock", "operator/uplift_operator/", "LICENSE"}
    copied = set(re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE, re.MULTILINE))
    assert copied == {"requirements/operator.lock", "requirements/runtime.lock", "operator/uplift_operator",
                      "LICENSE"}


def test_both_images_carry_the_license() -> None:
    """The Apache-2.0 text pyproject's ``license-files`` names goes into the stage both final
    images start from."""
    assert re.search(r"^COPY LICENSE /opt/uplift/LICENSE$", _stage("app"), re.MULTILINE)
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License\n")
