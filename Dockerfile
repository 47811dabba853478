# syntax=docker/dockerfile:1
# Two images from one build:
#   docker build --target operator -t uplift-operator .   # the kopf operator (no data-plane libraries)
#   docker build --target runtime  -t uplift-runtime .    # the MLServer uplift runtime Seldon runs
#
# Reproducible: the base is pinned by digest (python:3.11.14-slim-bookworm, the multi-arch index),
# dependencies come from the hashed locks in requirements/ (scripts/lock.sh), installed before the
# source is copied so a code change reuses the dependency layers. The source is not pip-installed
# (no build backend fetched at build time): it is copied to /opt/uplift and put on PYTHONPATH, with
# the LICENSE.
# Every Python package in an image is one of its lock's: the virtualenvs are made without pip
# (the builder's pip installs into them, `pip --python`), and the final images drop the base's
# own pip, setuptools and wheel, which nothing runs (a scanner would report theirs, unlocked).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS python
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# --- builders: one virtualenv per image, from its lock only ------------------------------------
FROM python AS operator-deps
COPY requirements/operator.lock /tmp/operator.lock
RUN python -m venv --without-pip /venv \
 && pip --python /venv/bin/python install --no-deps --require-hashes -r /tmp/operator.lock

FROM python AS runtime-deps
COPY requirements/runtime.lock /tmp/runtime.lock
RUN python -m venv --without-pip /venv \
 && pip --python /venv/bin/python install --no-deps --require-hashes -r /tmp/runtime.lock

# --- final images: the virtualenv, then the source; run as uid 10001 --------------------------
FROM python AS app
RUN useradd --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin uplift \
 && python -m pip uninstall --yes pip setuptools wheel
ENV PATH=/venv/bin:$PATH PYTHONPATH=/opt/uplift
WORKDIR /app
# The project's licence (Apache-2.0) next to the source it covers, in both images.
COPY LICENSE /opt/uplift/LICENSE

FROM app AS operator
COPY --from=operator-deps /venv /venv
COPY operator/uplift_operator /opt/uplift/uplift_operator
USER 10001
EXPOSE 8080 9090
ENTRYPOINT ["python", "-m", "uplift_operator"]
CMD ["run", "--all-namespaces"]

FROM app AS runtime
COPY --from=runtime-deps /venv /venv
COPY operator/uplift_operator /opt/uplift/uplift_operator
# MLServer's defaults when the image runs alone: HTTP 8080, gRPC 8081, metrics 8082 (EXPOSEd
# below). Under Seldon the rendered SeldonDeployment moves them to 9000/9500/6000 through
# MLSERVER_*_PORT (render/seldon.py), and sets MLSERVER_MODEL_* and UPLIFT_*.
# One process (the runtime keeps decisions and metrics in it), and MLServer's metrics dir out of
# the root-owned /app; the rendered SeldonDeployment mounts an emptyDir on the same path.
RUN mkdir -p /var/lib/mlserver/metrics && chown 10001:10001 /var/lib/mlserver/metrics
ENV MLSERVER_MODEL_IMPLEMENTATION=uplift_operator.runtime.runtime.UpliftRuntime \
    MLSERVER_PARALLEL_WORKERS=0 \
    MLSERVER_METRICS_DIR=/var/lib/mlserver/metrics
USER 10001
EXPOSE 8080 8081 8082
ENTRYPOINT ["mlserver", "start", "/app"]
