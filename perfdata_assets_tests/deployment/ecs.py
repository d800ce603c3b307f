"""deploy/ecs's templates, rendered as its Terraform module renders them, with example values.

The task definitions and IAM policies are Terraform `templatefile()` templates: `${name}`
for a value and `${jsonencode(name)}` for a list. render() does the same two things and
fails on a name it was not given, so a template and its callers cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from perfdata_assets_tests.deployment.support import REPO

ECS_DIR = REPO / "deploy" / "ecs"
TASK_DEFINITIONS = ECS_DIR / "task-definitions"
IAM = ECS_DIR / "iam"
TERRAFORM = ECS_DIR / "terraform"
PROCESSES = ("webserver", "daemon", "code-server", "run-worker", "serve")
# The processes that call AWS APIs themselves, so have a task role (the code server and
# `perfdata serve` call none: docs/deployment.md).
WITH_TASK_ROLE = ("webserver", "daemon", "run-worker")

ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
CLUSTER = "make-an-lpa"
NAME = "perfdata"

_PLACEHOLDER = re.compile(r"\$\{(jsonencode\()?([A-Za-z_][A-Za-z0-9_]*)\)?\}")


def placeholders(text: str) -> set[str]:
    return {m.group(2) for m in _PLACEHOLDER.finditer(text)}


def render(path: Path, values: Mapping[str, object]) -> str:
    text = path.read_text()
    missing = placeholders(text) - set(values)
    assert not missing, f"{path.name}: no value for {sorted(missing)}"

    def substitute(match: re.Match) -> str:
        value = values[match.group(2)]
        return json.dumps(value) if match.group(1) else str(value)

    return _PLACEHOLDER.sub(substitute, text)


def family(process: str) -> str:
    return f"{NAME}-{process}"


def log_group(process: str) -> str:
    return f"/ecs/{NAME}/{process}"


def role_arn(process: str, kind: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{NAME}-{process}-{kind}"


def secret_arn(name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{NAME}/{name}-AbCdEf"


SECRETS = {
    "dagster_pg_password": secret_arn("dagster-pg-password"),
    "lpa_database_url": secret_arn("lpa-database-url"),
    "perfdata_database_url": secret_arn("perfdata-database-url"),
    "api_token": secret_arn("api-token"),
}
# As main.tf's locals.processes: which secrets each process's execution role may read.
PROCESS_SECRETS = {
    "webserver": ["dagster_pg_password"],
    "daemon": ["dagster_pg_password"],
    "code-server": ["dagster_pg_password", "lpa_database_url", "perfdata_database_url"],
    "run-worker": ["dagster_pg_password", "lpa_database_url", "perfdata_database_url"],
    "serve": ["lpa_database_url", "perfdata_database_url", "api_token"],
}
BUCKET = "opg-performance-data"
SIRIUS_ROUTE = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:a1b2c3d4e5/live/GET/v1/lpa-online-tool/channel-counts"


def task_definition_values(process: str, **overrides: str) -> dict[str, str]:
    """What main.tf's task_definition_values and its per-process merge give a template."""
    values = {
        "region": REGION,
        "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/perfdata:0123abc",
        "dagster_pg_host": "perfdata.cluster-abc.eu-west-1.rds.amazonaws.com",
        "dagster_pg_port": "5432",
        "dagster_pg_user": "perfdata_dagster",
        "dagster_pg_db": "perfdata_dagster",
        "code_server_host": "code-server.perfdata.internal",
        "run_task_definition": family("run-worker"),
        "start_date": "2019-04-01",
        "sirius_base_url": "https://sirius.example.internal",
        "uptime_health_check_id": "abcdef01-2345-6789-abcd-ef0123456789",
        "publication_bucket": BUCKET,
        "publication_prefix": "",
        "secret_dagster_pg_password": SECRETS["dagster_pg_password"],
        "secret_lpa_database_url": SECRETS["lpa_database_url"],
        "secret_perfdata_database_url": SECRETS["perfdata_database_url"],
        "secret_api_token": SECRETS["api_token"],
        "family": family(process),
        "log_group": log_group(process),
        "execution_role_arn": role_arn(process, "execution"),
        "task_role_arn": role_arn(process, "task") if process in WITH_TASK_ROLE else "",
    }
    values.update(overrides)
    return values


def task_definition(process: str, **overrides: str) -> dict:
    return json.loads(render(TASK_DEFINITIONS / f"{process}.json", task_definition_values(process, **overrides)))


def policy_values() -> dict[str, dict[str, object]]:
    """Each identity policy's values, as iam.tf renders it (execution: the run worker's)."""
    common = {"account_id": ACCOUNT, "region": REGION}
    return {
        "execution": {
            **common,
            "ecr_repository_arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/perfdata",
            "log_group": log_group("run-worker"),
            "secret_arns": [SECRETS[s] for s in PROCESS_SECRETS["run-worker"]],
        },
        "webserver-task": {**common, "cluster_name": CLUSTER},
        "daemon-task": {
            **common,
            "cluster_name": CLUSTER,
            "run_family": family("run-worker"),
            "run_task_role_arn": role_arn("run-worker", "task"),
            "run_execution_role_arn": role_arn("run-worker", "execution"),
            "run_log_group": log_group("run-worker"),
        },
        "run-worker-task": {
            "sirius_channel_counts_arn": SIRIUS_ROUTE,
            "publication_bucket": BUCKET,
            "publication_prefix": "",
        },
        "run-worker-costs": {},
    }


def policy(name: str, values: Mapping[str, object] | None = None) -> str:
    return render(IAM / f"{name}.json", policy_values()[name] if values is None else values)


def trust_policy() -> str:
    return render(IAM / "trust-ecs-tasks.json", {"account_id": ACCOUNT, "region": REGION})
