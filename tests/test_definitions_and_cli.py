import dagster as dg
import pytest
from click.testing import CliRunner

from orchestration.cli import cli
from orchestration.definitions import defs
from assets_defs.partitions import daily_partitions
from starloom_core.series import PartitionDateError, parse_episode_date


def test_definitions_load_with_the_whole_chain_schedule_and_checks():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    stages = ["script", "scene_prompts", "raw_clips", "reviewed_clips", "final_episode"]
    assert keys == {"catalog_files", "prompt_rules", "calendar_file", "catalog", "series_plan", *stages, *[f"special/{s}" for s in stages]}
    checks = {"duration_matches_script", "audio_at_target_loudness", "subtitles_cover_narration", "formats_decodable",
              "manifest_matches_files", "webhook_delivered"}
    assert {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys} == {
        (asset, name) for asset in ("final_episode", "special/final_episode") for name in checks} | {
        ("reviewed_clips", "approved"), ("special/reviewed_clips", "approved")}
    # Approval blocks publishing: the check on reviewed_clips stops final_episode in the same run.
    assert graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey("reviewed_clips"), "approved")).blocking
    assert {s.name for s in defs.sensors} >= {"daily_approval_sensor", "special_approval_sensor"}
    # A backfill of any number of days is one run: every daily and special stage is single-run.
    for stage in stages:
        for key in (stage, f"special/{stage}"):
            policy = graph.get(dg.AssetKey.from_user_string(key)).backfill_policy
            assert policy is not None and policy.max_partitions_per_run is None, key
    assert graph.get(dg.AssetKey("raw_clips")).pools == {"gpu"}
    schedule = defs.resolve_schedule_def("daily_episode_job_schedule")
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "Asia/Shanghai"


def test_partitions_start_on_the_first_episode_and_include_today():
    keys = daily_partitions.get_partition_keys()
    assert keys[0] == "2026-01-01"
    from starloom_core.series import today_in_series

    assert keys[-1] == today_in_series().isoformat()


@pytest.mark.parametrize("text, message", [
    ("2026/11/27", "YYYY-MM-DD"),
    ("27-11-2026", "YYYY-MM-DD"),
    ("2026-13-01", "YYYY-MM-DD"),
    ("2026-1-5", "YYYY-MM-DD"),
    ("2025-12-31", "outside the series"),
    ("2099-01-01", "outside the series"),
])
def test_bad_episode_dates_say_what_is_wrong(text, message):
    with pytest.raises(PartitionDateError, match=message):
        parse_episode_date(text)


def test_cli_rejects_a_bad_date_before_doing_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    result = CliRunner().invoke(cli, ["episode", "2026-13-01"])
    assert result.exit_code == 2 and "(YYYY-MM-DD), got '2026-13-01'" in result.output
    assert not (tmp_path / "dagster").exists()
    result = CliRunner().invoke(cli, ["episode", "2026-11-27", "--size", "big"])
    assert result.exit_code == 2 and "WIDTHxHEIGHT" in result.output


@pytest.mark.parametrize("command", [[], ["episode"], ["ui"], ["pool"], ["lineage"], ["ray"], ["ray", "start"], ["build-tiny-wan"],
                                     ["backfill"], ["special"], ["revise"], ["plan"], ["picks"], ["plan-series"], ["studio"]])
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_every_command_is_documented_in_the_readme():
    from starloom_core.settings import PROJECT_ROOT, SECTIONS, env_name

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"starloom {name}" in readme, name


def test_progress_is_a_plain_line_per_stage_when_stderr_is_not_a_terminal():
    import io

    from assets_defs.progress import report_progress
    from orchestration.progress import hide_progress, show_progress

    out = io.StringIO()
    display = show_progress(out)
    try:
        for done in range(4):
            report_progress("clips", done, 3)
        report_progress("assembly", 0, 6, "narration")
        report_progress("assembly", 6, 6, "done")
    finally:
        hide_progress(display)
    lines = out.getvalue().splitlines()
    assert lines[0] == "clips 0/3" and lines[1].startswith("clips 3/3 in ") and "\r" not in out.getvalue()
    assert lines[2] == "assembly 0/6 narration" and lines[3].startswith("assembly 6/6 done in ")


def test_progress_on_a_terminal_is_a_bar_with_an_eta():
    import io

    from assets_defs.progress import report_progress
    from orchestration.progress import hide_progress, show_progress

    out = io.StringIO()
    display = show_progress(out, live=True)
    try:
        report_progress("clips", 0, 4)
        report_progress("clips", 2, 4)
    finally:
        hide_progress(display)
    assert "clips" in out.getvalue() and "2/4" in out.getvalue()


def test_help_answers_without_importing_dagster_ray_or_torch():
    import subprocess
    import sys

    code = ("import sys; from orchestration.cli import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('dagster', 'ray', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
    usage = subprocess.run([sys.executable, "-c", "from orchestration.cli import main; main()", "episode", "2026-13-01"],
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "YYYY-MM-DD" in usage.stderr


def test_external_tools_run_with_stdin_closed():
    """A tool that inherits a terminal's stdin stops a run started in a background process group."""
    import ast

    from starloom_core.settings import PROJECT_ROOT, SECTIONS, env_name
    from starloom_core.tools import run_tool

    read = run_tool(["python3", "-c", "import sys; print(repr(sys.stdin.read()))"], text=True)
    assert read.stdout.strip() == "''"  # closed, not the caller's terminal
    fed = run_tool(["python3", "-c", "import sys; print(sys.stdin.read())"], input=b"piped")
    assert fed.stdout.strip() == b"piped"
    # Every other module goes through run_tool; the long-lived services (Ray head, Dagster) get DEVNULL themselves.
    for path in [p for layer in ("assets_defs", "ray_jobs", "starloom_core") for p in PROJECT_ROOT.glob(f"{layer}/**/*.py")]:
        if path.name == "tools.py":
            continue
        tree = ast.parse(path.read_text())
        # The names a module reaches the process-spawning modules by (`import subprocess as sp` too);
        # an onnxruntime session's `.run` starts no process and is not one of them.
        spawners = {"os", "asyncio"} | {alias.asname or alias.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                                        for alias in n.names if alias.name == "subprocess"}
        calls = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and isinstance(n.func.value, ast.Name) and n.func.value.id in spawners
                 and n.func.attr in ("run", "Popen", "call", "check_call", "check_output", "system", "popen",
                                     "create_subprocess_exec", "create_subprocess_shell")]
        calls += [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "subprocess"]
        assert not calls, f"{path}:{calls}: runs a tool without run_tool (stdin left open)"


def test_local_ray_head_starts_once_and_stops(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(cli, ["ray", "start", "--num-cpus", "1"])
    assert first.exit_code == 0 and first.output.startswith("export RAY_ADDRESS=127.0.0.1:")
    again = runner.invoke(cli, ["ray", "start"])
    assert again.output == first.output  # the running head is reported, not a second one started
    assert runner.invoke(cli, ["ray", "stop"]).output.strip() == "stopped the local Ray head"
    assert runner.invoke(cli, ["ray", "stop"]).output.strip() == "no local Ray head is running"


def test_raw_clips_is_in_the_gpu_pool_and_retries():
    from assets_defs.raw_clips import raw_clips

    assert raw_clips.op.pool == "gpu"
    assert raw_clips.op.retry_policy.max_retries == 2


def test_helm_values_point_at_this_code_and_only_at_variables_it_reads():
    import re

    import yaml

    from starloom_core.settings import PROJECT_ROOT, SECTIONS, env_name

    values = yaml.safe_load((PROJECT_ROOT / "infra" / "helm" / "dagster-values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "orchestration.definitions"]
    read = {env_name(cls, field) for cls in SECTIONS.values() for field in cls.model_fields}
    named = {e["name"] for e in deployment["env"]}
    assert {n for n in named if n.startswith("STARLOOM_")} <= read
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"] == [{"name": "starloom-secrets"}]
    secrets = list(yaml.safe_load_all((PROJECT_ROOT / "infra" / "k8s" / "secrets.example.yaml").read_text()))
    assert {s["metadata"]["name"] for s in secrets} == {"starloom-secrets", values["global"]["postgresqlSecretName"]}
    limits = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    production = yaml.safe_load((PROJECT_ROOT / "infra" / "dagster.yaml").read_text())
    assert limits == production["concurrency"]["runs"]["tag_concurrency_limits"]  # the same policy in both places


