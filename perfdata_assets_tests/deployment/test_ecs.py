"""deploy/ecs: the ECS Fargate deployment, proven on loopback with the real tools.

- every task definition, rendered as the Terraform module renders it, is registered on
  moto's ECS through boto3 (botocore validates each field against AWS's API model);
- every IAM policy is created on moto's IAM and passes parliament, each finding explained;
- a Dagster instance loaded from deploy/ecs/dagster.yaml (PostgreSQL storage, perfdata's
  event log) launches a perfdata job with dagster-aws's EcsRunLauncher against moto's ECS,
  and terminating the run stops the task;
- checkov finds nothing in the Dockerfile, the Helm values and the Terraform module, and
  `terraform fmt -check` passes.

About 20 seconds, most of it the run launch's code location (a gRPC subprocess).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
import yaml

from perfdata_assets_tests.aws import aws_env
from perfdata_assets_tests.deployment import ecs
from perfdata_assets_tests.deployment.support import REPO, dagster_pg_env

LINT_BIN = REPO / ".venv-lint" / "bin"
TERRAFORM = shutil.which("terraform") or "/usr/local/bin/terraform"
AWS_SERVICES = ("ecs", "ec2", "iam", "logs", "secretsmanager", "sts")


def ecs_instance_config() -> dict:
    return yaml.safe_load((ecs.ECS_DIR / "dagster.yaml").read_text())


@pytest.fixture
def aws(moto_server, monkeypatch) -> dict[str, object]:
    """boto3 clients of moto's ECS, EC2, IAM, ... over HTTP, in REGION."""
    aws_env(monkeypatch, moto_server.url, *AWS_SERVICES)
    monkeypatch.setenv("AWS_DEFAULT_REGION", ecs.REGION)
    monkeypatch.setenv("AWS_REGION", ecs.REGION)
    return {name: boto3.client(name, region_name=ecs.REGION) for name in AWS_SERVICES}


def create_roles(iam) -> None:
    """Every role the module creates, with its trust policy and its policy (iam.tf)."""
    values = ecs.policy_values()
    for process in ecs.PROCESSES:
        iam.create_role(RoleName=f"{ecs.NAME}-{process}-execution", AssumeRolePolicyDocument=ecs.trust_policy())
        execution = {**values["execution"], "log_group": ecs.log_group(process),
                     "secret_arns": [ecs.SECRETS[s] for s in ecs.PROCESS_SECRETS[process]]}
        iam.put_role_policy(RoleName=f"{ecs.NAME}-{process}-execution", PolicyName="execution",
                            PolicyDocument=ecs.policy("execution", execution))
    for process in ecs.WITH_TASK_ROLE:
        iam.create_role(RoleName=f"{ecs.NAME}-{process}-task", AssumeRolePolicyDocument=ecs.trust_policy())
        name = f"{process}-task"
        iam.put_role_policy(RoleName=f"{ecs.NAME}-{name}", PolicyName=name, PolicyDocument=ecs.policy(name))


# --- the instance ------------------------------------------------------------------


def test_ecs_instance_is_the_production_instance_with_the_ecs_run_launcher():
    production = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    config = ecs_instance_config()
    launcher = config.pop("run_launcher")
    assert (launcher["module"], launcher["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    # The run worker's task definition, from the environment; nothing registered at run time.
    assert launcher["config"]["task_definition"] == {"env": "PERFDATA_RUN_TASK_DEFINITION"}
    assert launcher["config"]["container_name"] == "run"
    assert launcher["config"]["secrets_tag"] is None  # no secretsmanager:ListSecrets
    assert config.pop("local_artifact_storage")["config"]["base_dir"].startswith("/tmp/")
    # Everything else, perfdata's event log included, as deploy/dagster.yaml.
    assert config == production
    assert config["event_log_storage"]["class"] == "BatchedPostgresEventLogStorage"


def test_the_image_carries_the_ecs_instance_and_the_ecs_extra():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY deploy/ecs/dagster.yaml /opt/dagster/ecs_home/dagster.yaml" in dockerfile
    assert "ecs" in re.search(r"^ARG PERFDATA_EXTRAS=(\S*)$", dockerfile, flags=re.MULTILINE).group(1).split(",")
    for process in ecs.PROCESSES:
        environment = {e["name"]: e["value"] for e in ecs.task_definition(process)["containerDefinitions"][0]["environment"]}
        if process != "serve":
            assert environment["DAGSTER_HOME"] == "/opt/dagster/ecs_home", process


# --- task definitions -----------------------------------------------------------------


def test_task_definitions_register_on_moto_ecs(aws):
    create_roles(aws["iam"])
    registered = {}
    for process in ecs.PROCESSES:
        request = ecs.task_definition(process)
        registered[process] = aws["ecs"].register_task_definition(**request)["taskDefinition"]

    for process, td in registered.items():
        assert td["family"] == ecs.family(process)
        assert td["networkMode"] == "awsvpc" and td["requiresCompatibilities"] == ["FARGATE"], process
        assert td["executionRoleArn"] == ecs.role_arn(process, "execution")
        assert td.get("taskRoleArn") == (ecs.role_arn(process, "task") if process in ecs.WITH_TASK_ROLE else None), process
        (container,) = td["containerDefinitions"]
        assert container["user"] == "10001:10001", process
        assert container["readonlyRootFilesystem"] is True, process
        assert {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False} in container["mountPoints"]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert container["logConfiguration"]["options"]["awslogs-group"] == ecs.log_group(process)
        # Secrets by reference only: no password, URL or token in the environment.
        names = {e["name"] for e in container["environment"]}
        assert not names & {"DAGSTER_PG_PASSWORD", "LPA_DATABASE_URL", "PERFDATA_DATABASE_URL", "PERFDATA_API_TOKEN"}
        secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
        assert set(secrets.values()) == {ecs.SECRETS[s] for s in ecs.PROCESS_SECRETS[process]}, process
        # The run worker is started by the launcher and lives as long as its run: no health check.
        assert ("healthCheck" in container) == (process != "run-worker"), process

    assert registered["run-worker"]["containerDefinitions"][0]["name"] == "run"  # the launcher's container_name
    assert registered["daemon"]["containerDefinitions"][0]["command"] == ["daemon"]
    # Sized from make bench's peaks (bench/RESULTS.md): a run's steps are processes of ~190 MB.
    assert int(registered["run-worker"]["memory"]) >= 1024
    listed = aws["ecs"].list_task_definitions()["taskDefinitionArns"]
    assert len(listed) == len(ecs.PROCESSES)


def test_every_template_value_is_given_by_the_terraform_module():
    main = (ecs.TERRAFORM / "main.tf").read_text()
    iam = (ecs.TERRAFORM / "iam.tf").read_text()
    given = set(re.findall(r"^\s+(\w+)\s+=", main, flags=re.MULTILINE))
    for process in ecs.PROCESSES:
        text = (ecs.TASK_DEFINITIONS / f"{process}.json").read_text()
        assert ecs.placeholders(text) <= given, (process, ecs.placeholders(text) - given)
        assert set(ecs.task_definition_values(process)) <= given | {"task_role_arn"}
        assert f"{process} " in main or f"{process} =" in main or f'"{process}"' in main or process in main
    for name in ecs.policy_values():
        assert f"../iam/{name}.json" in iam, name
        block = iam.split(f"../iam/{name}.json", 1)[1].split("}", 1)[0]
        assert ecs.placeholders((ecs.IAM / f"{name}.json").read_text()) <= set(re.findall(r"(\w+)\s+=", block)), name


# --- IAM ------------------------------------------------------------------------------

# parliament's findings, each with the reason it stays. Anything else fails the test, and so
# does an explanation that no longer matches a finding.
EXPLAINED = {
    ("daemon-task", "PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole"):
        "ecs:RunTask needs iam:PassRole for the run worker's task and execution roles; the "
        "statement names only those two roles and only for ecs-tasks.amazonaws.com",
    ("execution", "CREDENTIALS_EXPOSURE", "ecr:getauthorizationtoken"):
        "pulling the image from ECR needs a registry token; the action has no resource-level "
        "permission, and the token can pull only what the other statement allows (one repository)",
}


def parliament_findings(name: str) -> set[tuple[str, str, str]]:
    from parliament import analyze_policy_string

    result = analyze_policy_string(ecs.policy(name), include_community_auditors=True)
    return {(name, f.issue, ",".join(f.location.get("actions", []))) for f in result.findings}


def test_iam_policies_pass_parliament_with_every_finding_explained():
    found = set().union(*(parliament_findings(name) for name in ecs.policy_values()))
    assert found - set(EXPLAINED) == set(), f"unexplained parliament findings: {sorted(found - set(EXPLAINED))}"
    assert set(EXPLAINED) - found == set(), f"explained findings parliament no longer reports: {sorted(set(EXPLAINED) - found)}"


def test_iam_policies_are_least_privilege():
    actions = {}
    for name in ecs.policy_values():
        for statement in json.loads(ecs.policy(name))["Statement"]:
            assert statement["Effect"] == "Allow"
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            actions.setdefault(name, set()).update(listed)
            for action in listed:
                assert "*" not in action, (name, action)
            if statement["Resource"] == "*":
                # Only where the action has no resource-level permission, and the Sid says so.
                assert statement["Sid"].endswith("HasNoResourceLevelPermissions"), (name, statement["Sid"])
                assert listed in (["cloudwatch:GetMetricData"], ["ce:GetCostAndUsage"], ["ecr:GetAuthorizationToken"],
                                  ["ecs:DescribeTaskDefinition"], ["ec2:DescribeNetworkInterfaces"]), (name, listed)
    assert actions == {
        "execution": {"ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                      "ecr:GetDownloadUrlForLayer", "logs:CreateLogStream", "logs:PutLogEvents",
                      "secretsmanager:GetSecretValue"},
        "webserver-task": {"ecs:DescribeTaskDefinition", "ecs:DescribeTasks", "ecs:StopTask"},
        "daemon-task": {"ecs:DescribeTaskDefinition", "ecs:DescribeTasks", "ecs:StopTask", "ecs:RunTask",
                        "ecs:TagResource", "iam:PassRole", "ec2:DescribeNetworkInterfaces", "logs:GetLogEvents"},
        "run-worker-task": {"cloudwatch:GetMetricData", "execute-api:Invoke", "s3:GetObject", "s3:PutObject",
                            "s3:ListBucket"},
        "run-worker-costs": {"ce:GetCostAndUsage"},
    }
    daemon = {s["Sid"]: s for s in json.loads(ecs.policy("daemon-task"))["Statement"]}
    assert daemon["RunOnlyTheRunWorkerTaskDefinition"]["Resource"].endswith(f":task-definition/{ecs.family('run-worker')}:*")
    assert sorted(daemon["PassOnlyTheRunWorkerRoles"]["Resource"]) == sorted(
        [ecs.role_arn("run-worker", "task"), ecs.role_arn("run-worker", "execution")])
    run = {s["Sid"]: s for s in json.loads(ecs.policy("run-worker-task"))["Statement"]}
    assert run["PutAndReadOpgObjectNamesOnly"]["Resource"] == (
        f"arn:aws:s3:::{ecs.BUCKET}/make_a_lasting_power_of_attorney_*.json")
    assert run["InvokeSiriusChannelCountsOnly"]["Resource"] == ecs.SIRIUS_ROUTE
    # The trust policy: ECS tasks of this account only (parliament reads identity policies only).
    (trust,) = json.loads(ecs.trust_policy())["Statement"]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ecs.ACCOUNT}


def test_iam_policies_are_created_on_moto_iam(aws):
    iam = aws["iam"]
    for name in ecs.policy_values():
        created = iam.create_policy(PolicyName=f"{ecs.NAME}-{name}", PolicyDocument=ecs.policy(name))["Policy"]
        version = iam.get_policy_version(PolicyArn=created["Arn"], VersionId=created["DefaultVersionId"])
        assert version["PolicyVersion"]["Document"] == json.loads(ecs.policy(name))
    create_roles(iam)
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert roles >= {f"{ecs.NAME}-{p}-execution" for p in ecs.PROCESSES} | {f"{ecs.NAME}-{p}-task" for p in ecs.WITH_TASK_ROLE}
    assert f"{ecs.NAME}-code-server-task" not in roles and f"{ecs.NAME}-serve-task" not in roles


# --- a real run launch -------------------------------------------------------------------


class TaskMetadataEndpoint:
    """The ECS agent's task metadata endpoint (v4) of the daemon's task, on loopback."""

    def __init__(self, cluster: str, task_arn: str):
        task = {"Cluster": cluster, "TaskARN": task_arn}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = json.dumps(task if self.path.rstrip("/").endswith("/task") else {"Name": "daemon"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v4/daemon"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_ecs_run_launcher_launches_a_perfdata_run_on_moto_and_stops_it_postgres(aws, postgres_url, tmp_path, monkeypatch):
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import deserialize_value
    from dagster_aws.ecs import EcsRunLauncher

    from perfdata_assets.event_log import BatchedPostgresEventLogStorage

    # OPG's side, on moto: the VPC, the cluster, the roles, the task definitions, and the
    # daemon running as a Fargate task in the application subnet.
    ec2, ecs_client = aws["ec2"], aws["ecs"]
    vpc = ec2.create_vpc(CidrBlock="10.162.0.0/16")["Vpc"]["VpcId"]
    # As the service's VPC: private DNS names (Cloud Map, the code server's address) need them.
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.162.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="perfdata-tasks", Description="perfdata tasks", VpcId=vpc)["GroupId"]
    cluster = ecs_client.create_cluster(clusterName=ecs.CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"])["cluster"]
    create_roles(aws["iam"])
    arns = {p: ecs_client.register_task_definition(**ecs.task_definition(p))["taskDefinition"]["taskDefinitionArn"]
            for p in ecs.PROCESSES}
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group], "assignPublicIp": "DISABLED"}}
    daemon = ecs_client.run_task(
        cluster=ecs.CLUSTER, taskDefinition=ecs.family("daemon"), networkConfiguration=network,
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )["tasks"][0]

    # The daemon's container: deploy/ecs/dagster.yaml in its DAGSTER_HOME, the task
    # definition's environment (DAGSTER_PG_* naming a test database here).
    home = tmp_path / "ecs_home"
    home.mkdir()
    shutil.copy2(ecs.ECS_DIR / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("PERFDATA_HOME", str(tmp_path / "perfdata_home"))
    monkeypatch.delenv("LPA_DATABASE_URL", raising=False)
    for key, value in dagster_pg_env(postgres_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PERFDATA_RUN_TASK_DEFINITION", ecs.family("run-worker"))
    endpoint = TaskMetadataEndpoint(cluster["clusterArn"], daemon["taskArn"])
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", endpoint.url)

    try:
        with DagsterInstance.get() as instance:
            assert isinstance(instance.event_log_storage, BatchedPostgresEventLogStorage)
            launcher = instance.run_launcher
            assert isinstance(launcher, EcsRunLauncher)
            assert launcher.task_definition == arns["run-worker"]  # resolved from the family at start-up

            target = ModuleTarget(module_name="perfdata_assets.definitions", attribute=None,
                                  working_directory=str(REPO), location_name="perfdata")
            with WorkspaceProcessContext(instance, target) as workspace:
                context = workspace.create_request_context()
                location = context.get_code_location("perfdata")
                (repository,) = location.get_repositories().values()
                job = repository.get_full_job("health_check_uptime_job")
                run = create_run_for_test(
                    instance, job_name=job.name, remote_job_origin=job.get_remote_origin(),
                    job_code_origin=job.get_python_origin(), job_snapshot=job.job_snapshot,
                )
                # What the daemon's run queue does with a dequeued run.
                instance.launch_run(run.run_id, context)

            run = instance.get_run_by_id(run.run_id)
            task_arn = run.tags["ecs/task_arn"]
            assert run.tags["ecs/cluster"] == cluster["clusterArn"]
            (task,) = ecs_client.describe_tasks(cluster=ecs.CLUSTER, tasks=[task_arn], include=["TAGS"])["tasks"]
            # The run worker's task definition, and so its role, image, secrets and log group.
            assert task["taskDefinitionArn"] == arns["run-worker"]
            described = ecs_client.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
            assert described["taskRoleArn"] == ecs.role_arn("run-worker", "task")
            assert described["executionRoleArn"] == ecs.role_arn("run-worker", "execution")
            # `dagster api execute_run` for this run, through the image's entrypoint.
            (override,) = task["overrides"]["containerOverrides"]
            assert override["name"] == "run"
            assert override["command"][:3] == ["dagster", "api", "execute_run"]
            args = deserialize_value(override["command"][3], ExecuteRunArgs)
            assert args.run_id == run.run_id
            assert args.job_origin.job_name == "health_check_uptime_job"
            # The daemon's network: its subnet and security group, no public address, Fargate.
            (attachment,) = task["attachments"]
            details = {d["name"]: d["value"] for d in attachment["details"]}
            assert details["subnetId"] == subnet
            (eni,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[details["networkInterfaceId"]])["NetworkInterfaces"]
            assert [g["GroupId"] for g in eni["Groups"]] == [group]
            assert task["launchType"] == "FARGATE"
            assert {"key": "dagster/run_id", "value": run.run_id} in task["tags"]
            assert {"key": "service", "value": "perfdata"} in task["tags"]
            assert task["lastStatus"] != "STOPPED"

            # Terminating the run (the UI's "Terminate") stops its task.
            assert instance.run_launcher.terminate(run.run_id) is True
            (task,) = ecs_client.describe_tasks(cluster=ecs.CLUSTER, tasks=[task_arn])["tasks"]
            assert task["lastStatus"] == "STOPPED"
            assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.CANCELING
            # The daemon's own task runs on.
            (mine,) = ecs_client.describe_tasks(cluster=ecs.CLUSTER, tasks=[daemon["taskArn"]])["tasks"]
            assert mine["lastStatus"] != "STOPPED"
    finally:
        endpoint.close()


# --- checkov and terraform fmt ------------------------------------------------------------


def checkov(home: Path, *args: str) -> list[dict]:
    checkov_bin = LINT_BIN / "checkov"
    assert checkov_bin.exists(), f"{checkov_bin} is missing: `make install` creates .venv-lint"
    result = subprocess.run(
        [str(checkov_bin), *args, "--skip-download", "--output", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        # HOME: checkov keeps an update-check cache there, which must stay out of the repository.
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    return reports if isinstance(reports, list) else [reports]


def check_ids(report: dict, kind: str) -> set[str]:
    return {c["check_id"] for c in report.get("results", {}).get(kind, [])}


def test_checkov_passes_the_terraform_module_and_the_dockerfile(tmp_path):
    (terraform,) = checkov(tmp_path, "--directory", "deploy/ecs/terraform", "--framework", "terraform")
    assert terraform["summary"]["failed"] == 0 and terraform["summary"]["parsing_errors"] == 0
    # It did read the resources: the task definitions' read-only root, the roles, the log groups.
    assert {"CKV_AWS_336", "CKV_AWS_249", "CKV_AWS_158", "CKV_AWS_338", "CKV_AWS_333"} <= check_ids(terraform, "passed_checks")
    (dockerfile,) = checkov(tmp_path, "--file", "Dockerfile", "--framework", "dockerfile")
    assert dockerfile["summary"]["failed"] == 0
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3"} <= check_ids(dockerfile, "passed_checks")  # HEALTHCHECK, USER


def test_checkov_finds_no_secret_in_the_helm_values(tmp_path):
    # deploy/helm holds values for Dagster's official chart, not a chart: checkov's helm
    # framework needs the chart and the helm binary, which cannot be fetched here (README).
    # What is ours, the values, is scanned for secrets.
    reports = checkov(tmp_path, "--directory", "deploy/helm", "--framework", "secrets", "helm")
    assert all(r.get("summary", r).get("failed", 0) == 0 for r in reports), reports


def test_terraform_fmt_check_passes():
    result = subprocess.run([TERRAFORM, "fmt", "-check", "-recursive", "-diff", str(ecs.TERRAFORM)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
