# syntax=docker/dockerfile:1
# One image for every perfdata process; the command picks which (docs/deployment.md):
#
#   docker run IMAGE code-server   the perfdata code location over gRPC, port 4000 (default)
#   docker run IMAGE webserver     the Dagster UI, port 3000
#   docker run IMAGE daemon        schedules, sensors, the run queue, run retries
#   docker run IMAGE dagster ...   any other command (the Helm chart and K8sRunLauncher do this)
#
# Every step is in deploy/image-steps.sh, which the tests run in a fresh
# virtualenv (perfdata_assets_tests/deployment/test_image.py), so what is
# tested is what the image does. Build from the repository root, after
# `make lock` has written constraints.txt:
#
#   docker build -t perfdata:$(git rev-parse --short HEAD) .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PERFDATA_VENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DAGSTER_EVENT_BATCH_SIZE=100000

# DAGSTER_EVENT_BATCH_SIZE: a step's materialisations go to the event log in one
# transaction, not one each (a 5-year backfill writes one per day and asset:
# bench/RESULTS.md), so the daemon sees all of a step's partitions done or none
# (perfdata_assets/instance.py). `perfdata backfill` sets it too.

# tini reaps the run workers the code server starts and forwards signals.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/perfdata
# Only what the install needs (.dockerignore keeps the rest of the tree out).
COPY pyproject.toml constraints.txt ./
COPY perfdata_assets ./perfdata_assets
COPY deploy/image-steps.sh ./deploy/image-steps.sh
# The optional dependency groups to install: k8s brings dagster-k8s, which the
# official Helm chart's run pods need; ecs brings dagster-aws, whose EcsRunLauncher
# the ECS deployment's webserver and daemon load (deploy/ecs/). Empty for plain Docker.
ARG PERFDATA_EXTRAS=k8s,ecs
RUN --mount=type=cache,target=/root/.cache/pip \
    PERFDATA_EXTRAS="$PERFDATA_EXTRAS" ./deploy/image-steps.sh install \
    && rm -rf build ./*.egg-info

# The production instance configuration; its settings come from DAGSTER_PG_*.
# The Helm chart mounts its own in the same place.
COPY deploy/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
# The ECS deployment's instance (EcsRunLauncher): its task definitions set
# DAGSTER_HOME=/opt/dagster/ecs_home.
COPY deploy/ecs/dagster.yaml /opt/dagster/ecs_home/dagster.yaml

RUN groupadd --system --gid 10001 perfdata \
    && useradd --system --uid 10001 --gid perfdata --create-home --home-dir /home/perfdata \
       --shell /usr/sbin/nologin perfdata \
    && chown perfdata:perfdata /opt/dagster/dagster_home
USER 10001:10001
WORKDIR /home/perfdata

EXPOSE 3000 4000
# Checks whichever of code-server, webserver or daemon this container runs:
# `dagster api grpc-health-check -p 4000` for the code server.
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["/opt/perfdata/deploy/image-steps.sh", "healthcheck"]

ENTRYPOINT ["/usr/bin/tini", "--", "/opt/perfdata/deploy/image-steps.sh"]
CMD ["code-server"]
