#!/usr/bin/env bash
# The perfdata image's steps, kept out of the Dockerfile so that a test can run
# exactly what the image runs, in a fresh virtualenv, without a Docker engine.
#
#   image-steps.sh install       install perfdata and its pinned dependencies
#   image-steps.sh code-server   serve the perfdata code location over gRPC (port 4000)
#   image-steps.sh webserver     the Dagster UI (port 3000)
#   image-steps.sh daemon        the Dagster daemon: schedules, sensors, run queue, retries
#   image-steps.sh healthcheck   the HEALTHCHECK of whichever of the three runs here
#   image-steps.sh CMD [ARG...]  anything else runs as given (the Helm chart and the
#                                K8sRunLauncher pass `dagster ...` commands)
#
# Settings (environment):
#   PERFDATA_SRC          project directory (default: this script's parent directory)
#   PERFDATA_VENV         virtualenv to install into and run from (default /opt/venv)
#   PERFDATA_CONSTRAINTS  pip constraints file (default $PERFDATA_SRC/constraints.txt)
#   PERFDATA_EXTRAS       optional dependency groups to install (default k8s)
#   PERFDATA_CODE_SERVER_HOST / _PORT   where webserver and daemon find the code
#                         server (default localhost / 4000); the code server binds
#                         0.0.0.0 on _PORT
#   DAGSTER_WORKSPACE     a workspace file to use instead of that gRPC one
#   DAGSTER_WEBSERVER_PORT (3000), DAGSTER_WEBSERVER_DB_POOL_MAX_OVERFLOW (4)
#   DAGSTER_HOME          holds dagster.yaml; DAGSTER_PG_HOST, _PORT, _USER,
#                         _PASSWORD and _DB locate its PostgreSQL database
#   LPA_DATABASE_URL, PERFDATA_DATABASE_URL  the databases perfdata reads and writes
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${PERFDATA_SRC:-$(dirname "$HERE")}
VENV=${PERFDATA_VENV:-/opt/venv}
CONSTRAINTS=${PERFDATA_CONSTRAINTS:-$SRC/constraints.txt}
EXTRAS=${PERFDATA_EXTRAS-k8s}
CODE_MODULE=perfdata_assets.definitions
LOCATION_NAME=perfdata
CODE_HOST=${PERFDATA_CODE_SERVER_HOST:-localhost}
CODE_PORT=${PERFDATA_CODE_SERVER_PORT:-4000}
WEB_PORT=${DAGSTER_WEBSERVER_PORT:-3000}
RUNTIME_DIR=${TMPDIR:-/tmp}
ROLE_FILE=$RUNTIME_DIR/perfdata-image-role

die() {
    echo "image-steps.sh: $*" >&2
    exit 2
}

bin() {
    # A venv's console script when there is one, else the PATH's.
    if [[ -x "$VENV/bin/$1" ]]; then echo "$VENV/bin/$1"; else command -v "$1" || die "$1 is not installed (run: image-steps.sh install)"; fi
}

require_instance_env() {
    [[ -n "${DAGSTER_HOME:-}" ]] || die "DAGSTER_HOME is not set: it must name the directory holding the production dagster.yaml"
    [[ -f "$DAGSTER_HOME/dagster.yaml" ]] || die "no dagster.yaml in DAGSTER_HOME ($DAGSTER_HOME)"
    local var
    for var in DAGSTER_PG_HOST DAGSTER_PG_PORT DAGSTER_PG_USER DAGSTER_PG_PASSWORD DAGSTER_PG_DB; do
        # Set, even if empty (an empty password is valid with trust or peer auth).
        [[ -n "${!var+x}" ]] || die "$var is not set: the Dagster instance's PostgreSQL database is configured from DAGSTER_PG_HOST, _PORT, _USER, _PASSWORD and _DB"
    done
}

workspace() {
    if [[ -n "${DAGSTER_WORKSPACE:-}" ]]; then
        [[ -f "$DAGSTER_WORKSPACE" ]] || die "DAGSTER_WORKSPACE ($DAGSTER_WORKSPACE) does not exist"
        echo "$DAGSTER_WORKSPACE"
        return
    fi
    local file=$RUNTIME_DIR/perfdata-workspace.yaml
    cat >"$file" <<YAML
# Written by image-steps.sh: the perfdata code server, over gRPC.
load_from:
  - grpc_server:
      host: "$CODE_HOST"
      port: $CODE_PORT
      location_name: "$LOCATION_NAME"
YAML
    echo "$file"
}

install() {
    [[ -f "$SRC/pyproject.toml" ]] || die "no pyproject.toml in PERFDATA_SRC ($SRC)"
    [[ -f "$CONSTRAINTS" ]] || die "no constraints file at $CONSTRAINTS: generate it with 'make lock' (pip freeze of the tested environment)"
    if [[ ! -x "$VENV/bin/python" ]]; then
        python3 -m venv "$VENV"
    fi
    local target=$SRC
    [[ -n "$EXTRAS" ]] && target="$SRC[$EXTRAS]"
    "$VENV/bin/python" -m pip install --no-input --constraint "$CONSTRAINTS" "$target"
    "$VENV/bin/python" -m pip check
    # Every requested extra must exist: pip only warns about an unknown one, and an
    # image without dagster-k8s fails only when Kubernetes launches its first run.
    "$VENV/bin/python" - "$EXTRAS" <<'PY'
import sys
from importlib.metadata import metadata

wanted = [e.strip() for e in sys.argv[1].split(",") if e.strip()]
declared = set(metadata("perfdata").get_all("Provides-Extra") or [])
missing = [e for e in wanted if e not in declared]
if missing:
    sys.exit(f"image-steps.sh: pyproject.toml declares no optional dependency group {', '.join(missing)} (PERFDATA_EXTRAS)")
import dagster, dagster_postgres, dagster_webserver, perfdata_assets  # noqa: E401,F401
print(f"perfdata installed with dagster {dagster.__version__}" + (f" [{', '.join(wanted)}]" if wanted else ""))
PY
}

healthcheck() {
    local role
    role=$(cat "$ROLE_FILE" 2>/dev/null || true)
    case "$role" in
        code-server) exe=$(bin dagster) && exec "$exe" api grpc-health-check -p "$CODE_PORT" ;;
        webserver)
            exec "$VENV/bin/python" -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$WEB_PORT/server_info', timeout=5)"
            ;;
        daemon) exe=$(bin dagster-daemon) && exec "$exe" liveness-check ;;
        *) die "nothing to check: no code-server, webserver or daemon was started here" ;;
    esac
}

start() {
    echo "$1" >"$ROLE_FILE" 2>/dev/null || true
}

step=${1:-}
[[ -n "$step" ]] || die "usage: image-steps.sh install|code-server|webserver|daemon|healthcheck|COMMAND..."
shift
case "$step" in
    install) install ;;
    code-server)
        require_instance_env
        [[ -n "${LPA_DATABASE_URL:-}" ]] || die "LPA_DATABASE_URL is not set: in production perfdata reads the LPA service's PostgreSQL database (and writes PERFDATA_DATABASE_URL, default the same)"
        exe=$(bin dagster)
        start code-server
        exec "$exe" code-server start -h 0.0.0.0 -p "$CODE_PORT" -m "$CODE_MODULE" --location-name "$LOCATION_NAME" "$@"
        ;;
    webserver)
        require_instance_env
        ws=$(workspace)
        exe=$(bin dagster-webserver)
        start webserver
        exec "$exe" -h 0.0.0.0 -p "$WEB_PORT" -w "$ws" \
            --db-pool-max-overflow "${DAGSTER_WEBSERVER_DB_POOL_MAX_OVERFLOW:-4}" "$@"
        ;;
    daemon)
        require_instance_env
        ws=$(workspace)
        # perfdata-daemon: dagster-daemon with a 5 s backfill loop (perfdata_assets/daemon.py)
        exe=$(bin perfdata-daemon)
        start daemon
        exec "$exe" run -w "$ws" "$@"
        ;;
    healthcheck) healthcheck ;;
    *) exec "$step" "$@" ;;
esac
