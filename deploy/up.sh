#!/usr/bin/env bash
# `make up`: the Dagster webserver and daemon on this machine, on the production
# instance configuration (deploy/dagster.yaml: PostgreSQL storage,
# run queue, concurrency pools, run retries). See docs/deployment.md.
#
# Settings (environment), with their local defaults:
#   DAGSTER_PG_HOST=127.0.0.1 DAGSTER_PG_PORT=5432 DAGSTER_PG_USER=postgres
#   DAGSTER_PG_PASSWORD= DAGSTER_PG_DB=perfdata_dagster
#                          the Dagster instance's database (created if missing)
#   PERFDATA_UP_HOME=.perfdata/dagster_home_postgres
#                          becomes DAGSTER_HOME; dagster.yaml is copied there at
#                          every start, so it is always deploy/dagster.yaml
#   PERFDATA_WORKSPACE=workspace.yaml   the code locations to load
#   DAGSTER_WEBSERVER_HOST=127.0.0.1 DAGSTER_WEBSERVER_PORT=3000
#   DAGSTER_BIN=.venv/bin  where dagster-webserver, perfdata-daemon and python are
#   LPA_DATABASE_URL / PERFDATA_DATABASE_URL   the databases the runs use (unset:
#                          the local SQLite demo databases under .perfdata/)
#
# Stops both processes when either exits or on Ctrl-C / SIGTERM.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${DAGSTER_BIN:-$ROOT/.venv/bin}
for tool in python dagster-webserver perfdata-daemon; do
    [[ -x "$BIN/$tool" ]] || { echo "up.sh: $BIN/$tool not found: create the virtualenv first (make install) or set DAGSTER_BIN" >&2; exit 2; }
done

export DAGSTER_PG_HOST=${DAGSTER_PG_HOST:-127.0.0.1}
export DAGSTER_PG_PORT=${DAGSTER_PG_PORT:-5432}
export DAGSTER_PG_USER=${DAGSTER_PG_USER:-postgres}
export DAGSTER_PG_PASSWORD=${DAGSTER_PG_PASSWORD:-}
export DAGSTER_PG_DB=${DAGSTER_PG_DB:-perfdata_dagster}
# As the image: a step's materialisation events handed over together (perfdata_assets/instance.py).
export DAGSTER_EVENT_BATCH_SIZE=${DAGSTER_EVENT_BATCH_SIZE:-100000}

home=${PERFDATA_UP_HOME:-$ROOT/.perfdata/dagster_home_postgres}
mkdir -p "$home"
cp "$ROOT/deploy/dagster.yaml" "$home/dagster.yaml"
if [[ -n "${DAGSTER_HOME:-}" && "$(cd "$DAGSTER_HOME" 2>/dev/null && pwd)" != "$(cd "$home" && pwd)" ]]; then
    echo "up.sh: ignoring DAGSTER_HOME=$DAGSTER_HOME: using $home (set PERFDATA_UP_HOME to change it)" >&2
fi
export DAGSTER_HOME=$home

workspace=${PERFDATA_WORKSPACE:-$ROOT/workspace.yaml}
[[ -f "$workspace" ]] || { echo "up.sh: workspace file $workspace not found" >&2; exit 2; }
host=${DAGSTER_WEBSERVER_HOST:-127.0.0.1}
port=${DAGSTER_WEBSERVER_PORT:-3000}

# The instance's database must exist; Dagster creates its tables in it.
"$BIN/python" - <<'PY'
import os
import sys

import psycopg
from psycopg import sql

env = os.environ
target = env["DAGSTER_PG_DB"]
where = f"{env['DAGSTER_PG_USER']}@{env['DAGSTER_PG_HOST']}:{env['DAGSTER_PG_PORT']}"
try:
    with psycopg.connect(
        host=env["DAGSTER_PG_HOST"], port=env["DAGSTER_PG_PORT"], user=env["DAGSTER_PG_USER"],
        password=env["DAGSTER_PG_PASSWORD"] or None, dbname="postgres", autocommit=True, connect_timeout=10,
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target)))
            print(f"up.sh: created database {target} on {where}", file=sys.stderr)
except psycopg.Error as exc:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    sys.exit(f"up.sh: cannot prepare the Dagster database {target} as {where}: {message}")
PY

pids=()
stop() {
    trap - EXIT INT TERM
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "up.sh: DAGSTER_HOME=$DAGSTER_HOME, instance database $DAGSTER_PG_DB on $DAGSTER_PG_HOST:$DAGSTER_PG_PORT" >&2
echo "up.sh: UI at http://$host:$port (Ctrl-C stops the webserver and the daemon)" >&2
"$BIN/dagster-webserver" -h "$host" -p "$port" -w "$workspace" &
pids+=($!)
"$BIN/perfdata-daemon" run -w "$workspace" &
pids+=($!)

status=0
wait -n || status=$?
echo "up.sh: a process exited (status $status): stopping the other" >&2
exit "$status"
