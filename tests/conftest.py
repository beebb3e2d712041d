"""Shared fixtures: one in-process Ray cluster per session, tiny models built in code, tmp storage roots."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
import ray

from starloom_core.settings import PROJECT_ROOT, SECTIONS, StarloomSettings
from starloom_core.net import free_port

# The shipped default (`important`) makes every pinned day wait for a person after review, and the
# test data pins the days the tests use: tests of approval set it themselves.
os.environ.setdefault("STARLOOM_APPROVAL", "none")

DATA = PROJECT_ROOT / "data"
DAY = "2026-11-27"  # pinned to Scorpius in the test data (TEST_DATA): a myth of three beats
# The shipped calendar picks each day's story from the sky and the data, so a new myth may change
# what a date shows. Tests run on a copy of data/ whose calendar pins the days they use.
TEST_PINS = {"2026-11-27": "Sco", "2026-11-26": "Lyr"}


@pytest.fixture(scope="session")
def ray_cluster():
    """Ray in this process, sized for a 2-core machine; replicas take one CPU each. A command run
    in-process before (the bad-input corpus runs `starloom` through CliRunner) may have started it,
    as `starloom episode` does: that one then serves."""
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, namespace="starloom", include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def _no_replicas_left_behind():
    """Replicas outlive runs by design; between tests they would hold the cluster's two CPUs."""
    yield
    if ray.is_initialized():
        from ray_jobs.pool import shutdown_replicas

        shutdown_replicas()


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """A real Ray head in its own processes (`starloom ray start`'s code), for drivers that join by address.
    It declares four GPUs it does not have, so placement of GPU replicas can be tested on a CPU."""
    from orchestration.local_ray import start_head, stop_head

    state = tmp_path_factory.mktemp("ray-head")
    yield start_head(state, num_cpus=2, num_gpus=4)["address"]
    stop_head(state)


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API (moto's server mode) on loopback, with a bucket; yields the client environment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "starloom-test",
           "AWS_SECRET_ACCESS_KEY": "starloom-test"}
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert time.monotonic() < deadline, "moto_server did not start"
        time.sleep(0.2)
    import s3fs

    s3fs.S3FileSystem(endpoint_url=env["AWS_ENDPOINT_URL"], key="starloom-test", secret="starloom-test").mkdir("starloom")
    yield env
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def tiny_wan_dir(tmp_path_factory) -> Path:
    from ray_jobs.backends.tiny_wan import build_tiny_wan

    return build_tiny_wan(tmp_path_factory.mktemp("models") / "tiny-wan")


def _pinned_copy(target: Path) -> Path:
    shutil.copytree(DATA, target)
    with (target / "calendar.toml").open("a", encoding="utf-8") as calendar:
        for day, story in TEST_PINS.items():
            calendar.write(f'\n[[pin]]\ndate = "{day}"\nstory = "{story}"\n')
    return target


TEST_DATA = _pinned_copy(Path(tempfile.mkdtemp(prefix="starloom-test-data-")) / "data")
atexit.register(shutil.rmtree, TEST_DATA.parent, True)


@pytest.fixture
def data_copy(tmp_path) -> Path:
    """An editable copy of the test data, for tests that change what a person would edit."""
    return Path(shutil.copytree(TEST_DATA, tmp_path / "data"))


def make_settings(tmp_path: Path, **overrides) -> StarloomSettings:
    """Small episodes on tmp storage; `overrides` by field name (backend=…, vertical_size="off")."""
    values = {"url": str(tmp_path / "storage"), "data_dir": str(TEST_DATA), "size": "256x144",
              "vertical_size": "144x256"} | overrides
    section_of: dict[str, str] = {}
    for name, cls in SECTIONS.items():  # a name two sections share (url) means the first: storage's
        for field in cls.model_fields:
            section_of.setdefault(field, name)
    return StarloomSettings.load({f"{section_of[field]}.{field}": value for field, value in values.items()})


def episode_env(root: Path, approval: str) -> dict:
    """The environment of a small `starloom episode` on `root`'s storage and DAGSTER_HOME."""
    return {"STARLOOM_DATA": str(TEST_DATA), "STARLOOM_STORAGE": str(root / "storage"), "DAGSTER_HOME": str(root / "dagster"),
            "STARLOOM_SIZE": "256x144", "STARLOOM_VERTICAL_SIZE": "144x256", "STARLOOM_BACKEND": "sky", "STARLOOM_APPROVAL": approval}


def run_episode_command(root: Path, day: str, approval: str):
    """`starloom episode DAY` in this process on `root` (storage/ and dagster/ below it): exit 3 when
    the day waits for a person, 0 when it was published. Returns click's result."""
    from click.testing import CliRunner

    from orchestration.cli import cli

    return CliRunner().invoke(cli, ["episode", day], env=episode_env(root, approval))


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance



def _postgres_bin(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A real PostgreSQL server (Debian's `postgresql` package) on a free loopback port, with trust
    auth and a `starloom` database; yields the DAGSTER_PG_* environment. Run as root (as in CI), the
    server runs as the `postgres` user, since PostgreSQL refuses to run as root."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not (initdb and pg_ctl):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing: `make test` installs the postgresql package with apt")
        pytest.skip("PostgreSQL is not installed")
    # Not under pytest's tmp folder: that is private to root, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="starloom-postgres-"))
    data, sockets, port = base / "data", base / "sockets", free_port()
    sockets.mkdir()
    as_owner = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    run = lambda *cmd: subprocess.run([*as_owner, *cmd], check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
    run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
    run(pg_ctl, "-D", str(data), "-w", "-l", str(base / "server.log"), "-o",
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        run(_postgres_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "starloom")
        yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_USER": "postgres",
               "DAGSTER_PG_PASSWORD": "unused-with-trust-auth", "DAGSTER_PG_DB": "starloom"}
    finally:
        subprocess.run([*as_owner, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def stop_process_group(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    """SIGTERM a process started with start_new_session=True and everything it spawned; SIGKILL
    what is still there after the grace period (the Dagster webserver may ignore SIGTERM)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def run_failures(instance, run_id: str) -> list[str]:
    """A run's step and run failure messages, to say why a run failed when a test expected it to succeed."""
    return [e.message for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE")]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    """A query to the Dagster webserver's GraphQL API on `port`, as the UI sends it; its data."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer["errors"]
    return answer["data"]
