"""The image, without a Docker engine: the Dockerfile's own steps in a fresh virtualenv.

The Dockerfile COPYs a few paths and runs deploy/image-steps.sh; these tests
copy the same paths into a scratch build context, run the same `install` step
into a new virtualenv (about a minute with pip's cache warm; pip's cache is
shared with every other install on the machine), then start the code server
exactly as the image's CMD does and talk to it over gRPC.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from perfdata_assets.devtools.loopback import free_port
from perfdata_assets_tests.deployment.support import (
    REPO,
    Service,
    clean_env,
    dagster_pg_env,
    http_ok,
    location_loaded,
    wait_for,
)

pytestmark = [pytest.mark.image, pytest.mark.postgres]

DOCKERFILE = (REPO / "Dockerfile").read_text()
INSTALL_TIMEOUT = 900  # a cold pip cache downloads ~100 wheels

# Lists what the gRPC server serves, run with the image's python.
PROBE = """
import json, sys
from dagster import DagsterInstance
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

origin = GrpcServerCodeLocationOrigin(host="127.0.0.1", port=int(sys.argv[1]), location_name="perfdata")
with DagsterInstance.ephemeral() as instance, origin.create_location(instance) as location:
    (repo,) = location.get_repositories().values()
    print(json.dumps({
        "assets": sorted(n.asset_key.to_user_string() for n in repo.get_asset_node_snaps() if n.is_materializable),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repo.get_schedules()),
    }))
"""


def dockerfile_copies() -> list[tuple[str, str]]:
    """(source, destination) of every COPY from the build context."""
    copies = []
    for line in re.findall(r"^COPY\s+(.+)$", DOCKERFILE, flags=re.MULTILINE):
        parts = [p for p in line.split() if not p.startswith("--")]
        copies += [(src, parts[-1]) for src in parts[:-1]]
    return copies


def dockerfile_default_extras() -> str:
    match = re.search(r"^ARG PERFDATA_EXTRAS=(\S*)$", DOCKERFILE, flags=re.MULTILINE)
    assert match, "the Dockerfile declares ARG PERFDATA_EXTRAS=..."
    return match.group(1)


def declared_extras() -> set[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(pyproject["project"].get("optional-dependencies", {}))


@dataclass
class Image:
    venv: Path
    context: Path
    extras: str


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    tmp = tmp_path_factory.mktemp("image")
    context = tmp / "context"
    for source, _ in dockerfile_copies():
        src, dst = REPO / source, context / source
        dst.parent.mkdir(parents=True, exist_ok=True)
        assert src.exists(), f"the Dockerfile COPYs {source}, which does not exist"
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dst)
    # The image installs the Dockerfile's extras; one the pyproject does not
    # declare yet is left out here, and reported by its own test below.
    extras = ",".join(e for e in dockerfile_default_extras().split(",") if e in declared_extras())
    venv = tmp / "venv"
    env = clean_env(PERFDATA_VENV=str(venv), PERFDATA_EXTRAS=extras)
    log = tmp / "install.log"
    with open(log, "w") as out:
        result = subprocess.run(
            ["bash", str(context / "deploy" / "image-steps.sh"), "install"],
            env=env, cwd=context, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT,
        )
    assert result.returncode == 0, f"image-steps.sh install failed:\n{log.read_text()[-4000:]}"
    return Image(venv=venv, context=context, extras=extras)


def test_the_dockerfile_builds_from_the_steps_script():
    assert re.search(r"^FROM python:3\.11-slim\b", DOCKERFILE, flags=re.MULTILINE)
    assert re.search(r"^RUN .*\n?.*\./deploy/image-steps\.sh install", DOCKERFILE, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "/opt/perfdata/deploy/image-steps.sh"]' in DOCKERFILE
    assert 'CMD ["code-server"]' in DOCKERFILE
    assert re.search(r'^\s+CMD \["/opt/perfdata/deploy/image-steps.sh", "healthcheck"\]', DOCKERFILE, flags=re.MULTILINE)
    users = re.findall(r"^USER (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as a non-root user"
    # Everything the Dockerfile copies is in the build context (.dockerignore lets it through).
    ignore = (REPO / ".dockerignore").read_text().split()
    for source, _ in dockerfile_copies():
        assert f"!{source}" in ignore or f"!{source}/" in ignore, f".dockerignore excludes {source}"
        assert (REPO / source).exists(), source


def test_the_repository_pins_the_image_dependencies():
    """constraints.txt (`make lock`) pins the release of every dependency pyproject.toml pins."""
    constraints = REPO / "constraints.txt"
    assert constraints.exists(), "no constraints.txt at the repository root: run `make lock` and commit it"
    pins = dict(
        line.split("==", 1) for line in constraints.read_text().splitlines() if "==" in line and not line.startswith("#")
    )
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in dependencies:
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            assert pins.get(name.strip()) == version.strip(), f"constraints.txt pins {name} at {pins.get(name.strip())}"


def test_pyproject_declares_the_extras_the_image_installs():
    """The Helm chart's run pods load the K8sRunLauncher: the image needs dagster-k8s."""
    missing = set(dockerfile_default_extras().split(",")) - declared_extras() - {""}
    assert not missing, (
        f"pyproject.toml has no optional dependency group {sorted(missing)}, which the Dockerfile installs: "
        'add k8s = ["dagster-k8s==0.29.27"] under [project.optional-dependencies]'
    )


def test_install_step_refuses_an_extra_the_project_does_not_declare(image: Image, tmp_path: Path):
    env = clean_env(PERFDATA_VENV=str(image.venv), PERFDATA_EXTRAS="no_such_extra")
    result = subprocess.run(
        ["bash", str(image.context / "deploy" / "image-steps.sh"), "install"],
        env=env, cwd=image.context, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
    )
    assert result.returncode != 0
    assert "declares no optional dependency group no_such_extra" in result.stderr + result.stdout


def _image_env(image: Image, tmp: Path, database_url: str, **extra: str) -> dict[str, str]:
    """What the image's ENV and a deployment's settings give one container (tmp: its own filesystem)."""
    tmp.mkdir(exist_ok=True)
    home = tmp / "dagster_home"
    home.mkdir(exist_ok=True)
    # COPY deploy/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
    (src, _dst), = [(s, d) for s, d in dockerfile_copies() if s == "deploy/dagster.yaml"]
    shutil.copy2(REPO / src, home / "dagster.yaml")
    return clean_env(
        PATH=f"{image.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        PERFDATA_VENV=str(image.venv),
        DAGSTER_HOME=str(home),
        TMPDIR=str(tmp),
        PERFDATA_HOME=str(tmp / "perfdata_home"),
        LPA_DATABASE_URL=database_url,
        **dagster_pg_env(database_url),
        **extra,
    )


def test_code_server_serves_every_perfdata_asset(image: Image, tmp_path: Path, postgres_url: str):
    from perfdata_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    expected_assets = sorted(k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable)
    assert {"raw_feedback", "lpa_lifecycle_events", "user_satisfaction", "completion_rate"} <= set(expected_assets)

    port = free_port()
    env = _image_env(image, tmp_path, postgres_url, PERFDATA_CODE_SERVER_PORT=str(port))
    steps = str(image.context / "deploy" / "image-steps.sh")
    workdir = tmp_path / "workdir"  # like the image's WORKDIR: not the source tree
    workdir.mkdir()

    # Nothing is running yet: the HEALTHCHECK fails.
    assert subprocess.run(["bash", steps, "healthcheck"], env=env, cwd=workdir, capture_output=True, timeout=60).returncode != 0

    server = Service(["bash", steps, "code-server"], env, tmp_path / "code-server.log", cwd=workdir).start()
    try:
        def healthy() -> bool:
            assert server.alive(), "the code server exited"
            check = subprocess.run(
                [str(image.venv / "bin" / "dagster"), "api", "grpc-health-check", "-p", str(port)],
                env=env, cwd=workdir, capture_output=True, timeout=30,
            )
            return check.returncode == 0

        wait_for("the code server's gRPC health check", healthy, 120, interval=1, log=server.log)
        # The image's HEALTHCHECK command agrees.
        health = subprocess.run(["bash", steps, "healthcheck"], env=env, cwd=workdir, capture_output=True, text=True, timeout=60)
        assert health.returncode == 0, health.stdout + health.stderr

        probe = tmp_path / "probe.py"
        probe.write_text(PROBE)
        listed = subprocess.run(
            [str(image.venv / "bin" / "python"), str(probe), str(port)],
            env=env, cwd=workdir, capture_output=True, text=True, timeout=120,
        )
        assert listed.returncode == 0, listed.stderr[-3000:]
        served = json.loads(listed.stdout.strip().splitlines()[-1])
        assert served["assets"] == expected_assets
        assert served["schedules"] == sorted(s.name for s in defs.schedules or [])
        assert set(served["jobs"]) >= {j.name for j in defs.jobs or []}
    finally:
        server.stop()
    assert not server.alive()
    assert not server.marked_pids(), "the code server left processes behind"


def test_code_server_refuses_to_start_without_its_settings(image: Image, tmp_path: Path):
    steps = str(image.context / "deploy" / "image-steps.sh")
    env = _image_env(image, tmp_path, "postgresql+psycopg://perfdata@db.invalid/lpa")
    del env["LPA_DATABASE_URL"]
    result = subprocess.run(["bash", steps, "code-server"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "LPA_DATABASE_URL is not set" in result.stderr

    env = _image_env(image, tmp_path, "postgresql+psycopg://perfdata@db.invalid/lpa")
    del env["DAGSTER_PG_HOST"]
    for step in ("code-server", "webserver", "daemon"):
        result = subprocess.run(["bash", steps, step], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, step
        assert "DAGSTER_PG_HOST is not set" in result.stderr, step


def test_other_commands_pass_through(image: Image, tmp_path: Path):
    """The Helm chart runs `dagster code-server start ...` and run pods `dagster api execute_run ...`."""
    steps = str(image.context / "deploy" / "image-steps.sh")
    env = _image_env(image, tmp_path, "postgresql+psycopg://perfdata@db.invalid/lpa")
    result = subprocess.run(["bash", steps, "dagster", "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "1.13.27" in result.stdout
    version = subprocess.run(["bash", steps, "python", "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert version.stdout.startswith("Python 3.11."), version.stdout  # as in python:3.11-slim
    if "k8s" in image.extras.split(","):
        result = subprocess.run(["bash", steps, "python", "-c", "import dagster_k8s"], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    if "ecs" in image.extras.split(","):
        # The ECS deployment's webserver and daemon load dagster-aws's EcsRunLauncher (deploy/ecs/dagster.yaml).
        result = subprocess.run(["bash", steps, "python", "-c", "from dagster_aws.ecs import EcsRunLauncher"],
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr


def test_one_image_runs_code_server_webserver_and_daemon_together(image: Image, tmp_path: Path, postgres_url: str):
    """Three containers of the image (each its own filesystem), as in a compose file or ECS."""
    code_port, web_port = free_port(), free_port()
    common = {"PERFDATA_CODE_SERVER_HOST": "127.0.0.1", "PERFDATA_CODE_SERVER_PORT": str(code_port)}
    steps = str(image.context / "deploy" / "image-steps.sh")
    services: dict[str, Service] = {}
    try:
        for role, extra in (
            ("code-server", {}),
            ("webserver", {"DAGSTER_WEBSERVER_PORT": str(web_port)}),
            ("daemon", {}),
        ):
            root = tmp_path / role
            env = _image_env(image, root, postgres_url, **common, **extra)
            services[role] = Service(["bash", steps, role], env, root / f"{role}.log", cwd=root).start()

        web = services["webserver"]
        wait_for("the webserver", lambda: web.alive() and http_ok(f"http://127.0.0.1:{web_port}/server_info"), 120, log=web.log)
        # The webserver found the perfdata location through the gRPC workspace the step wrote.
        wait_for("the webserver to load perfdata over gRPC", lambda: location_loaded(web_port, "perfdata"), 120, log=web.log)

        def healthy(role: str) -> bool:
            service = services[role]
            assert service.alive(), f"{role} exited"
            check = subprocess.run(["bash", steps, "healthcheck"], env=service.env, capture_output=True, timeout=60)
            return check.returncode == 0

        for role in services:
            # The daemon's liveness check passes once every daemon loop has sent a heartbeat.
            wait_for(f"the {role} HEALTHCHECK", lambda role=role: healthy(role), 120, interval=2, log=services[role].log)
    finally:
        for service in services.values():
            service.stop()
    assert not any(service.marked_pids() for service in services.values())
