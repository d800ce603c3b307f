"""The Dagster instance the CLI records its runs in, so they show in the UI.

With DAGSTER_HOME set (production: a dagster.yaml on PostgreSQL) that instance
is used as it is. Without it, a local SQLite instance under ``.perfdata/`` is
created on first use, so `perfdata demo` needs no set-up and `dagster dev`
pointed at the same DAGSTER_HOME shows the demo's runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from perfdata_assets.config import perfdata_home

LOCAL_INSTANCE_YAML = """\
# Written by perfdata for local use (the demo). Production uses the
# repository's dagster.yaml on PostgreSQL.
telemetry:
  enabled: false
"""


def local_dagster_home() -> Path:
    return (perfdata_home() / "dagster_home").resolve()


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME, defaulting it (in this process's environment) to the local instance."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = local_dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()
