"""The `starloom` command: a thin shell over the library that turns errors into clean messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from orchestration.partitions import SPECIAL_PREFIX, PartitionDateError, parse_episode_date, today_in_series
from orchestration.resources import Settings, parse_size


def _dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to ./var/dagster (SQLite storage, created on first use)."""
    home = Path(os.environ.get("DAGSTER_HOME") or "var/dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # SQLite storage is Dagster's default; say so, and keep telemetry off
        config.write_text("# Local instance: SQLite storage under this folder (production: infra/dagster.yaml).\n"
                          "telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _root_cause(error: BaseException) -> BaseException:
    """Dagster wraps user errors; a person wants to read the one that says what is wrong."""
    while getattr(error, "user_exception", None) is not None:
        error = error.user_exception
    return error


@click.group()
@click.version_option(package_name="starloom")
def cli() -> None:
    """starloom: a constellation a day (每日一星座), from myth to finished episode."""


@cli.command()
@click.argument("date", required=False)
@click.option("--backend", type=click.Choice(["sky", "tiny-wan", "wan"]), help="Clip generator (default: sky, or STARLOOM_BACKEND).")
@click.option("--size", help="Episode size as WIDTHxHEIGHT (default 1280x720).")
@click.option("--language", type=click.Choice(["zh", "en"]), help="Narration and subtitle language (default zh).")
def episode(date: str | None, backend: str | None, size: str | None, language: str | None) -> None:
    """Make the episode for DATE (YYYY-MM-DD, default today in Asia/Shanghai); prints the mp4's path last."""
    from orchestration.episode_run import run_episode
    from orchestration.progress import show_clip_progress

    try:
        partition = parse_episode_date(date) if date else today_in_series().isoformat()
        width, height = parse_size(size) if size else (None, None)
    except (PartitionDateError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    settings = Settings.from_env(backend=backend, width=width, height=height, language=language)
    _dagster_home()
    show_clip_progress()
    click.echo(_run(lambda echo: run_episode(partition, settings, echo=echo, log_level="WARNING"), partition)[partition].video)


def _run(work, what: str) -> dict:
    """Run `work(echo)` and return its final_episode outputs {partition: Episode}; a failure becomes
    one clean message naming the episode and the root error."""
    import dagster as dg

    try:
        result = work(lambda line: click.echo(line, err=True))
    except (dg.DagsterError, Exception) as error:
        cause = _root_cause(error)
        raise click.ClickException(f"episode {what} failed: {type(cause).__name__}: {cause}") from None
    node = next(n for n in ("final_episode", "special__final_episode") if result.job_def.has_node_named(n))
    return result.output_for_node(node)


@cli.command()
@click.argument("start")
@click.argument("end")
def backfill(start: str, end: str) -> None:
    """Make every episode from START to END (inclusive) in one run: all their clips share one queue
    on the replica pool, so models load once. Prints each mp4's path."""
    from orchestration.episode_run import run_chain
    from orchestration.partitions import daily_partitions
    from orchestration.progress import show_clip_progress

    try:
        first, last = parse_episode_date(start), parse_episode_date(end)
    except PartitionDateError as error:
        raise click.UsageError(str(error)) from None
    if first > last:
        raise click.UsageError(f"START {first} is after END {last}")
    keys = [k for k in daily_partitions.get_partition_keys() if first <= k <= last]
    settings = Settings.from_env()
    _dagster_home()
    show_clip_progress()
    episodes = _run(lambda echo: run_chain(keys, settings, echo=echo, log_level="WARNING"), f"{first}…{last}")
    for key in keys:
        click.echo(episodes[key].video)


@cli.command()
@click.argument("text")
def special(text: str) -> None:
    """Make a special episode told from TEXT (a sentence or a few, naming a myth or a constellation);
    the same as adding TEXT as a partition of the special chain in the UI. Prints the mp4's path."""
    from orchestration.episode_run import run_chain
    from orchestration.partitions import check_special_text, episode_id
    from orchestration.progress import show_clip_progress

    try:
        key = check_special_text(text)
    except PartitionDateError as error:
        raise click.UsageError(str(error)) from None
    settings = Settings.from_env()
    _dagster_home()
    show_clip_progress()
    click.echo(f"special {episode_id(key)}", err=True)
    click.echo(_run(lambda echo: run_chain([key], settings, special=True, echo=echo, log_level="WARNING"),
                    episode_id(key))[key].video)


@cli.command()
@click.argument("date")
@click.argument("instruction")
@click.option("--scene", type=int, required=True, help="The scene to change (1-based, as `starloom lineage` shows).")
def revise(date: str, instruction: str, scene: int) -> None:
    """Edit one scene of DATE's episode ("make the lightning brighter"): the instruction is kept,
    the scene's prompt rewritten, its clip made again and the episode reassembled; the previous cut
    stays under versions/. Prints the new mp4's path."""
    from assets_defs.edits import record_edit
    from orchestration.episode_run import run_episode
    from orchestration.lineage import LineageError, episode_lineage
    from orchestration.progress import show_clip_progress
    from ray_jobs.storage import storage_root

    settings = Settings.from_env()
    root = storage_root(settings.storage)
    try:
        partition = parse_episode_date(date)
        scenes = len(episode_lineage(root, partition)["scenes"])
        record_edit(root, partition, scene, instruction, scenes)
    except (PartitionDateError, LineageError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{partition} scene {scene}: edit recorded: {instruction}", err=True)
    _dagster_home()
    show_clip_progress()
    click.echo(_run(lambda echo: run_episode(partition, settings, echo=echo, log_level="WARNING"), partition)[partition].video)


@cli.command()
@click.argument("start", required=False)
@click.option("--days", default=14, show_default=True, help="How many days to show.")
def picks(start: str | None, days: int) -> None:
    """Show which story each day from START (default today) tells, and why: its figure's altitude and
    direction at the evening hour, its rank, festivals and pins (data/calendar.toml)."""
    import datetime as dt

    from rich.console import Console
    from rich.table import Table

    from assets_defs.catalog import CatalogError, load_catalog
    from assets_defs.pick import CalendarError, load_calendar, picks_through

    settings = Settings.from_env()
    try:
        first = dt.date.fromisoformat(parse_episode_date(start)) if start else today_in_series()
        catalog, calendar = load_catalog(settings.data_dir), load_calendar(settings.data_dir)
        chosen = picks_through(catalog, calendar, first + dt.timedelta(days=days - 1))[-days:]
    except (PartitionDateError, CatalogError, CalendarError) as error:
        raise click.ClickException(str(error)) from None
    table = Table("date", "story", "title", "altitude", "facing", "rank", "why",
                  title=f"{calendar.observer.name} at {calendar.observer.evening_hour}:00")
    for pick in chosen:
        story = catalog.story(pick.story)
        table.add_row(pick.date.isoformat(), pick.story, f"{story.title_zh} / {story.title_en}",
                      f"{pick.placement.altitude_deg:.0f}°", pick.placement.direction_en, str(pick.rank), pick.reason)
    Console(width=170).print(table)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True)
def ui(host: str, port: int) -> None:
    """Open the Dagster UI on the same storage and DAGSTER_HOME as `starloom episode`."""
    home = _dagster_home()
    click.echo(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={home})", err=True)
    cmd = [sys.executable, "-m", "dagster_webserver", "-m", "orchestration.definitions", "-h", host, "-p", str(port)]
    sys.exit(subprocess.call(cmd))


@cli.command()
@click.option("--shutdown", is_flag=True, help="Stop every replica (their models unload).")
def pool(shutdown: bool) -> None:
    """Show the warm replicas on the Ray cluster at RAY_ADDRESS, or shut them down."""
    address = os.environ.get("RAY_ADDRESS", "")
    if not address:
        raise click.UsageError("set RAY_ADDRESS to a Ray cluster: replicas of an in-process Ray end with their run")
    from ray_jobs.pool import describe_replicas, ensure_ray, shutdown_replicas

    ensure_ray(address)
    if shutdown:
        stopped = shutdown_replicas()
        click.echo(f"stopped {len(stopped)} replica(s)" + "".join(f"\n  {name}" for name in stopped))
        return
    import ray

    rows = describe_replicas()
    resources = ray.cluster_resources()
    click.echo(f"cluster: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; {len(rows)} replica(s)")
    for row in rows:
        click.echo(f"  {row['replica']:<32} {row['name']:<40} clips {row['clips_served']:>4}  "
                   f"busy {row.get('busy_seconds', 0):8.1f} s  load {row.get('load_seconds', 0):6.1f} s")


@cli.command()
@click.argument("date")
@click.option("--scene", type=int, help="Only this scene.")
def lineage(date: str, scene: int | None) -> None:
    """Print what made DATE's episode (or a special's, by its special-… id): catalog rows, prompts,
    edits, seeds, models, clips, reviews and files."""
    from rich.console import Console
    from rich.table import Table

    from orchestration.lineage import LineageError, episode_lineage
    from orchestration.resources import Settings
    from ray_jobs.storage import storage_root

    try:
        partition = date if date.startswith(SPECIAL_PREFIX) else parse_episode_date(date)
        chain = episode_lineage(storage_root(Settings.from_env().storage), partition, scene)
    except (PartitionDateError, LineageError) as error:
        raise click.ClickException(str(error)) from None
    console = Console(width=160)
    stale = "" if chain["catalog_version"] == chain["catalog_now"] else f" (catalog is now {chain['catalog_now']})"
    console.print(f"[bold]{chain['date']}[/] {chain['constellation']} — {chain['title']}  catalog {chain['catalog_version']}{stale}"
                  f"  cut v{chain['version']}")
    if chain["request"]:
        console.print(f"special, told from: {chain['request']}")
    if chain["pick"]:
        console.print("picked: " + ", ".join(f"{k} {v}" for k, v in chain["pick"].items()))
    table = Table(show_lines=True)
    for column in ("scene", "catalog beat", "shot and prompt", "seed", "model", "clip", "review"):
        table.add_column(column, overflow="fold")  # keys and paths are shown whole, folded, never cut
    for s in chain["scenes"]:
        beat = s["catalog_beat"]
        for n, shot in enumerate(s["shots"]):
            review = shot["review"]
            said = (f"\nrewrites: {', '.join(s['rewrites'])}" if s["rewrites"] else "") + "".join(f"\nedit: {e}" for e in s["edits"])
            table.add_row(
                f"{s['scene']}\n{s['seconds']:.2f} s" if n == 0 else "",
                f"{beat['story'] or beat['constellation']} beat {beat['beat']}\n{beat['zh']}\nfocus {beat['focus'] or '-'}" if n == 0 else "",
                f"{shot['shot']} ({shot['framing']}) {shot['prompt']}" + (said if n == 0 else ""),
                str(shot["seed"]),
                f"{shot['backend']}\n{shot['model_revision']}\n" + ", ".join(f"{k} {v}" for k, v in shot["sampler"].items() if v is not None),
                f"{shot['cache_key']}\n{shot['clip']}\n{shot['replica']}\n{shot['code_version']}",
                ("pass" if review["passed"] else "FAIL") + f" after {review['attempts']} attempt(s)\n"
                + ", ".join(f"{k} {v}" for k, v in review["measures"].items()),
            )
    console.print(table)
    if chain["files"]:
        files = Table("file", "bytes", "sha256", title=chain["episode_dir"])
        for entry in chain["files"].values():
            files.add_row(entry["name"], str(entry["bytes"]), entry["sha256"][:16])
        console.print(files)


@cli.group("ray")
def ray_group() -> None:
    """A long-lived local Ray head, so replicas stay warm between runs (state in ./var/ray)."""


@ray_group.command("start")
@click.option("--port", type=int, help="GCS port (default: a free one).")
@click.option("--num-cpus", type=int, help="CPUs the head offers (default: all).")
def ray_start(port: int | None, num_cpus: int | None) -> None:
    """Start the head (or report the running one) and print the variables to point runs at it."""
    from orchestration.local_ray import LocalRayError, start_head

    try:
        state = start_head(Path("var/ray").resolve(), port=port, num_cpus=num_cpus)
    except LocalRayError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"export RAY_ADDRESS={state['address']} RAY_AUTH_MODE=token")


@ray_group.command("stop")
def ray_stop() -> None:
    """Stop the head started by `starloom ray start` (its replicas and models go with it)."""
    from orchestration.local_ray import stop_head

    click.echo("stopped the local Ray head" if stop_head(Path("var/ray").resolve()) else "no local Ray head is running")


@cli.command("build-tiny-wan")
@click.argument("directory", default="var/models/tiny-wan", type=click.Path(file_okay=False))
def build_tiny_wan_command(directory: str) -> None:
    """Build the tiny random-initialised Wan2.2 pipeline and save it to DIRECTORY."""
    from ray_jobs.backends.tiny_wan import build_tiny_wan

    click.echo(build_tiny_wan(directory))


def main() -> None:
    cli()
