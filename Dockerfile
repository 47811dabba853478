# Two images from one build:
#   docker build --target operator -t uplift-operator .   # the kopf operator
#   docker build --target runtime  -t uplift-runtime .    # the MLServer uplift runtime Seldon runs
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin uplift

FROM base AS operator
RUN pip install .
USER 10001
EXPOSE 8080 9090
ENTRYPOINT ["uplift-operator"]
CMD ["run", "--all-namespaces"]

FROM base AS runtime
RUN pip install ".[serving]"
USER 10001
# MLServer: HTTP 8080, gRPC 8081, metrics 8082. The operator sets MLSERVER_MODEL_* and UPLIFT_*.
EXPOSE 8080 8081 8082
ENV MLSERVER_MODEL_IMPLEMENTATION=uplift_operator.runtime.runtime.UpliftRuntime
ENTRYPOINT ["mlserver", "start", "/app"]
