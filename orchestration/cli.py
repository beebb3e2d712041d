"""The `starloom` command: a thin shell over the library that turns errors into clean messages.

Dagster, Ray and torch are imported inside the commands that use them, so `--help` and usage
errors answer at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

LOCAL_INSTANCE = Path(__file__).resolve().parent.parent / "infra" / "dagster.local.yaml"
OLD_LOCAL_HEADER = "# Local instance: SQLite storage"  # what earlier releases wrote
LOCAL_HEADER = "# The local instance:"


def _dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to ./var/dagster: SQLite storage, the queued run coordinator that
    the daemon drains, run retries (infra/dagster.local.yaml, written on first use)."""
    from starloom_core.storage import atomic_write_text, storage_root

    home = Path(os.environ.get("DAGSTER_HOME") or "var/dagster").resolve()
    if home.exists() and not home.is_dir():
        raise click.UsageError(f"configuration: DAGSTER_HOME={home} is not a folder (Dagster keeps its runs and dagster.yaml there)")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.UsageError(f"configuration: DAGSTER_HOME={home} cannot be created: {error.strerror}") from None
    config = home / "dagster.yaml"
    text = config.read_text() if config.exists() else ""
    # Ours, from an earlier release (no run monitoring yet): brought up to date; a studio's own file is kept.
    if not text or text.startswith(OLD_LOCAL_HEADER) or (text.startswith(LOCAL_HEADER) and "run_monitoring:" not in text):
        atomic_write_text(storage_root(config), LOCAL_INSTANCE.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _quiet(verbose: bool) -> str:
    """Dagster's console level for in-process runs; Ray's start-up lines follow STARLOOM_VERBOSE."""
    if verbose:
        os.environ["STARLOOM_VERBOSE"] = "1"
    return "INFO" if verbose else "WARNING"


def _settings(**overrides):
    """The settings from the environment and these options ({"generation.backend": …}); a bad value
    stops the command at once, naming the variable and what it may be."""
    from starloom_core.settings import SettingsError, StarloomSettings

    try:
        return StarloomSettings.load(overrides)
    except SettingsError as error:
        raise click.UsageError(f"configuration: {error}") from None


def _check_data(settings):
    """Every file in data/ loaded before any run starts: a bad one stops the command in a second,
    its last line naming the file and field. Returns the catalog."""
    from assets_defs.data_check import validate_data_dir
    from starloom_core.data_files import DataError

    try:
        return validate_data_dir(settings.storage.data_dir, settings.review.text_safety)
    except DataError as error:
        raise click.ClickException(f"data: {error}") from None


def _root_cause(error: BaseException) -> BaseException:
    """Dagster wraps user errors; a person wants to read the one that says what is wrong."""
    while getattr(error, "user_exception", None) is not None:
        error = error.user_exception
    return error


@click.group()
@click.version_option(package_name="starloom")
@click.option("-v", "--verbose", is_flag=True, help="Show Dagster's run log and Ray's start-up lines.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """starloom: a constellation a day (每日一星座), from myth to finished episode."""
    ctx.obj = {"verbose": verbose}


@cli.command()
@click.argument("date", required=False)
@click.option("--backend", type=click.Choice(["sky", "tiny-wan", "wan"]), help="Clip generator (default: sky, or STARLOOM_BACKEND).")
@click.option("--size", help="Episode size as WIDTHxHEIGHT (default 1280x720).")
@click.option("--language", type=click.Choice(["zh", "en"]), help="Narration and subtitle language (default zh).")
@click.pass_context
def episode(ctx: click.Context, date: str | None, backend: str | None, size: str | None, language: str | None) -> None:
    """Make the episode for DATE (YYYY-MM-DD, default today in Asia/Shanghai); prints the mp4's path last."""
    from starloom_core.series import PartitionDateError, parse_episode_date, today_in_series
    from starloom_core.settings import parse_size

    try:
        partition = parse_episode_date(date) if date is not None else today_in_series().isoformat()
        if size:
            parse_size(size)
    except (PartitionDateError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    settings = _settings(**{"generation.backend": backend, "postproduction.size": size, "postproduction.language": language})
    _check_data(settings)
    click.echo(_run(ctx, lambda run: run([partition], settings), partition, [partition])[partition].video)


def _run(ctx: click.Context, work, what: str, keys: list[str] | None = None, special: bool = False) -> dict:
    """Run `work(run_chain-with-options)` and return its final_episode outputs {partition: Episode};
    progress goes to stderr, and a failure becomes one clean message naming the episode and the root error.
    Ctrl-C or SIGTERM stops it with one line, the run marked canceled (orchestration/interrupts.py)."""
    import dagster as dg

    from orchestration.episode_run import run_chain
    from orchestration.interrupts import Warden, exit_code, run_until_stopped
    from orchestration.progress import hide_progress, show_progress

    level = _quiet(ctx.obj["verbose"])
    _dagster_home()
    display = show_progress()
    echo = lambda line: click.echo(line, err=True)  # noqa: E731
    warden, runs = Warden(), []

    def started(run_id: str) -> None:
        runs.append(run_id)
        warden.watch(run_id)

    def stop(number) -> None:
        hide_progress(display)
        echo(f"interrupted ({number.name}): episode {what} stopped; clips made so far are kept, "
             "and the same command again makes only the missing ones")
        with dg.DagsterInstance.get() as instance:
            for run in filter(None, map(instance.get_run_by_id, runs)):
                if not run.is_finished:
                    instance.report_run_canceled(run, message=f"stopped by {number.name} in the terminal")
        # Out at once: the run's thread is mid-step and nothing of it should run on (or record a
        # failure over the cancel). The warden, hearing no goodbye, stops the in-process Ray.
        os._exit(exit_code(number))

    try:
        result = run_until_stopped(lambda: work(lambda keys, settings, special=False: run_chain(
            keys, settings, special, echo=echo, log_level=level, on_run=started)), stop)
    except (dg.DagsterError, Exception) as error:
        cause = _root_cause(error)
        from orchestration.review_commands import WAITING_EXIT, waiting_message

        # A blocking check that failed is Dagster's own error (not exported); its message names the check.
        stopped_for_approval = "blocking asset check" in str(cause) or "waits for approval" in str(cause)
        waiting = waiting_message(_settings(), keys or [], special) if keys and stopped_for_approval else None
        if waiting:  # not a failure: the run did its part and a person is next
            echo(waiting)
            raise SystemExit(WAITING_EXIT) from None
        # A step's dg.Failure already says what is wrong in words; its class name would only add noise.
        kind = "" if isinstance(cause, dg.Failure) else f"{type(cause).__name__}: "
        raise click.ClickException(f"episode {what} failed: {kind}{cause}") from None
    finally:
        hide_progress(display)
        warden.release()
    node = next(n for n in ("final_episode", "special__final_episode") if result.job_def.has_node_named(n))
    return result.output_for_node(node)


@cli.command()
@click.argument("start")
@click.argument("end")
@click.pass_context
def backfill(ctx: click.Context, start: str, end: str) -> None:
    """Make every episode from START to END (inclusive) in one run: all their clips share one queue
    on the replica pool, so models load once. Prints each mp4's path."""
    from assets_defs.partitions import daily_partitions
    from starloom_core.series import PartitionDateError, parse_episode_date

    settings = _settings()
    try:
        first, last = parse_episode_date(start), parse_episode_date(end)
    except PartitionDateError as error:
        raise click.UsageError(str(error)) from None
    if first > last:
        raise click.UsageError(f"START {first} is after END {last}")
    keys = [k for k in daily_partitions.get_partition_keys() if first <= k <= last]
    _check_data(settings)
    episodes = _run(ctx, lambda run: run(keys, settings), f"{first}…{last}", keys)
    for key in keys:
        click.echo(episodes[key].video)


@cli.command()
@click.argument("text")
@click.pass_context
def special(ctx: click.Context, text: str) -> None:
    """Make a special episode told from TEXT (a sentence or a few, naming a myth or a constellation);
    the same as adding TEXT as a partition of the special chain in the UI. Prints the mp4's path."""
    from assets_defs.script import SpecialTextError, special_story
    from starloom_core.series import PartitionDateError, check_special_text, episode_id

    settings = _settings()
    try:
        key = check_special_text(text)
    except PartitionDateError as error:
        raise click.UsageError(str(error)) from None
    try:
        special_story(_check_data(settings), key)  # a sentence that names no myth fails here, not in the run
    except SpecialTextError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"special {episode_id(key)}", err=True)
    click.echo(_run(ctx, lambda run: run([key], settings, special=True), episode_id(key), [key], special=True)[key].video)


@cli.command()
@click.argument("date")
@click.argument("instruction", required=False)
@click.option("--scene", type=int, help="The scene to change (1-based, as `starloom lineage` shows).")
@click.option("--list", "show", is_flag=True, help="Print DATE's edits, numbered; withdrawn ones are marked.")
@click.option("--withdraw", type=int, metavar="N", help="Withdraw edit N (as --list numbers it) and make the episode again without it.")
@click.pass_context
def revise(ctx: click.Context, date: str, instruction: str | None, scene: int | None, show: bool, withdraw: int | None) -> None:
    """Edit one scene of DATE's episode ("make the lightning brighter"): the instruction is screened
    against the blocklist and kept, the scene's prompt rewritten, its clip made again and the episode
    reassembled; the previous cut stays under versions/. Prints the new mp4's path."""
    from assets_defs.edits import edit_lines, load_edit_rules, read_edits, record_edit, screen_edit, withdraw_edit
    from assets_defs.safety import text_screening
    from orchestration.lineage import LineageError, episode_lineage
    from starloom_core.series import PartitionDateError, parse_episode_date
    from starloom_core.storage import storage_root

    if show and (instruction or withdraw is not None):
        raise click.UsageError("--list only prints the edits: give it no INSTRUCTION and no --withdraw")
    if withdraw is None and not show and (not instruction or scene is None):
        raise click.UsageError("give an INSTRUCTION and --scene N, or --list, or --withdraw N")
    settings = _settings()
    root = storage_root(settings.storage.url)
    try:
        partition = parse_episode_date(date)
        if show:
            for line in edit_lines(read_edits(root, partition)) or [f"{partition} has no edits"]:
                click.echo(line)
            return
        _check_data(settings)
        if withdraw is not None:
            edit = withdraw_edit(root, partition, withdraw)
            click.echo(f"{partition} edit {withdraw} withdrawn: scene {edit['scene']}: {edit['instruction']}", err=True)
        else:
            scenes = len(episode_lineage(root, partition)["scenes"])
            blocklist, _ = text_screening(settings.storage.data_dir, settings.review.text_safety)
            screen_edit(instruction, scene, load_edit_rules(settings.storage.data_dir), blocklist, partition)
            record_edit(root, partition, scene, instruction, scenes)
            click.echo(f"{partition} scene {scene}: edit recorded: {instruction}", err=True)
    except (PartitionDateError, LineageError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(_run(ctx, lambda run: run([partition], settings), partition, [partition])[partition].video)


def _plan(replan: str | None = None):
    """The series plan as the `series_plan` asset builds it (cached by its inputs under the storage root);
    computed, not materialized (see `plan-series`)."""
    import datetime as dt

    from assets_defs.catalog import CatalogError
    from assets_defs.pick import CalendarError
    from assets_defs.plan_solver import PlanInfeasible
    from assets_defs.series_plan import build_plan
    from starloom_core.storage import storage_root

    settings = _settings()
    catalog = _check_data(settings)
    try:
        replan_from = dt.date.fromisoformat(replan) if replan else None
        plan, old = build_plan(catalog, settings.storage.data_dir, storage_root(settings.storage.url), replan_from)
    except ValueError as error:
        if not isinstance(error, (CatalogError, CalendarError, PlanInfeasible)) and replan:
            raise click.UsageError(f"--replan must look like 2026-11-27 (YYYY-MM-DD), got {replan!r}") from None
        raise click.ClickException(str(error)) from None
    return catalog, plan, old


def _events(day, showers, sky=None, placed_by: str = "", observer=None) -> list[str]:
    import datetime as dt

    from assets_defs.sky_events import events_on
    from assets_defs.visibility import planets_near

    date = dt.date.fromisoformat(day.date)
    festival = [day.reason.split(": ", 1)[1].split(";")[0]] if day.reason.startswith("festival") else []
    pinned = ["pinned"] if day.reason.startswith("pinned") else []
    planets = []
    if sky is not None:
        i = sky.names.index(placed_by)
        planets = [f"{name} {apart:.0f}° from the figure" for name, apart, _ in
                   planets_near(date, observer, float(sky.centre_ra[i]), float(sky.centre_dec[i]))]
    return festival + pinned + events_on(date, showers, day.moon_phase) + planets


@cli.command()
@click.argument("start", required=False)
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 731), help="How many days to show.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per day instead of the table.")
def picks(start: str | None, days: int, as_json: bool) -> None:
    """Show which story each day from START (default today) tells in the series plan, and why: its
    figure's altitude and direction at the evening hour, the Moon, festivals and pins."""
    import datetime as dt
    import json

    from rich.console import Console
    from rich.table import Table

    from assets_defs.pick import load_calendar
    from assets_defs.sky_events import SkyEventsError, load_showers
    from assets_defs.sky_tonight import COMPASS_EN, EveningSky
    from starloom_core.series import today_in_series

    try:
        first = dt.date.fromisoformat(start) if start else today_in_series()
    except ValueError:
        raise click.UsageError(f"START must look like 2026-11-27 (YYYY-MM-DD), got {start!r}") from None
    catalog, plan, _ = _plan()
    sky, observer = EveningSky(catalog.stars, catalog.placed_groups()), load_calendar(_settings().storage.data_dir).observer
    placed_by = catalog.stories.set_index("id").placed_by
    try:
        chosen = [plan.day(first + dt.timedelta(days=n)) for n in range(days)]
        showers = load_showers(_settings().storage.data_dir, set(catalog.constellations.abbr))
    except KeyError as error:
        raise click.ClickException(str(error.args[0])) from None
    except SkyEventsError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        for day in chosen:
            click.echo(json.dumps({"date": day.date, "story": day.story, "figure": day.constellation,
                                   "altitude_deg": day.altitude_deg, "azimuth_deg": day.azimuth_deg,
                                   "moon_separation_deg": day.moon_separation_deg, "moon_phase": day.moon_phase,
                                   "reason": day.reason,
                                   "events": _events(day, showers, sky, placed_by[day.story], observer)}, ensure_ascii=False))
        return
    table = Table("date", "story", "title", "alt", "facing", "Moon", "why", title=f"{plan.observer}", expand=False)
    for day in chosen:
        story = catalog.story(day.story)
        why = "; ".join([day.reason, *_events(day, showers, sky, placed_by[day.story], observer)])
        table.add_row(day.date, day.story, f"{story.title_zh} / {story.title_en}", f"{day.altitude_deg:.0f}°",
                      COMPASS_EN[int(((day.azimuth_deg + 22.5) % 360) // 45)],
                      f"{day.moon_phase:.0%} {day.moon_separation_deg:.0f}°", why)
    Console().print(table)  # the terminal's own width: long columns wrap


@cli.command("plan-series")
@click.option("--year", type=int, help="Only this year's figures (default: every year of the plan).")
@click.option("--replan", "replan", metavar="FROM", help="Let published days from FROM (YYYY-MM-DD) on change story.")
def plan_series(year: int | None, replan: str | None) -> None:
    """Solve the series plan (or read it from the cache) and print its figures beside the greedy
    pick's: share of evenings well placed, low evenings, bright-Moon evenings, stories never told."""
    import datetime as dt

    from assets_defs.pick import load_calendar, picks_through
    from assets_defs.planning import day_figures, days_told, plan_figures

    _materialize_plan(replan)
    catalog, plan, old = _plan()
    calendar = load_calendar(_settings().storage.data_dir)
    first = dt.date.fromisoformat(plan.first)
    greedy = days_told(catalog, calendar, first, [p.story for p in picks_through(catalog, calendar, dt.date.fromisoformat(plan.last))])
    click.echo(f"series plan {plan.first} to {plan.last}, {plan.observer}: solved in {plan.solve_seconds} s "
               f"({plan.windows} windows, each proven optimal within {plan.worst_gap:.2%}); inputs {plan.inputs}")
    for shown in [year] if year else sorted({int(d.date[:4]) for d in plan.days}):
        ours, theirs = plan_figures(plan, shown), day_figures(greedy, shown)
        click.echo(f"\n{shown}            plan   greedy pick")
        for name, value in ours.items():
            click.echo(f"  {name:<28} {value:>6}   {theirs.get(name, '')}")
        for label, days in (("plan", plan.days), ("greedy pick", greedy)):
            never = sorted(set(catalog.stories.id) - {d.story for d in days if d.date.startswith(str(shown))})
            click.echo(f"  never told by the {label} ({len(never)}): {', '.join(never) or 'none'}")


def _materialize_plan(replan: str | None) -> None:
    """Materialize `series_plan` (and the catalog) as the UI would, so the plan, its diff and any
    re-plan are stored and shown there; the script of every later episode reads it."""
    import datetime as dt

    import dagster as dg

    from assets_defs.catalog import catalog
    from assets_defs.series_files import record_series_files
    from assets_defs.series_plan import series_plan
    from orchestration.resources import build_resources

    if replan:
        try:
            dt.date.fromisoformat(replan)
        except ValueError:
            raise click.UsageError(f"--replan must look like 2026-11-27 (YYYY-MM-DD), got {replan!r}") from None
    settings = _settings()
    _dagster_home()
    instance = dg.DagsterInstance.get()
    record_series_files(instance, settings.storage.data_dir)
    try:
        result = dg.materialize([catalog, series_plan], instance=instance, resources=build_resources(settings),
                                run_config={"ops": {"series_plan": {"config": {"replan_from": replan or ""}}},
                                            "loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    except Exception as error:  # noqa: BLE001 - one clean line naming the root error
        cause = _root_cause(error)
        raise click.ClickException(f"series plan failed: {type(cause).__name__}: {cause}") from None
    changed = result.asset_materializations_for_node("series_plan")[0].metadata["days_changed"].value
    click.echo(f"series_plan materialized; days whose story changed: {changed}", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True)
@click.option("--no-ray", is_flag=True, help="Do not start a local Ray head (each step then starts Ray in its own process).")
def ui(host: str, port: int, no_ray: bool) -> None:
    """The whole local deployment on the DAGSTER_HOME `starloom episode` uses: the Dagster webserver,
    the daemon (runs launched from the UI, backfills, the schedule, the failure sensor), the studio
    page (STARLOOM_STUDIO_HOST/PORT, 127.0.0.1:3001) and, unless RAY_ADDRESS is set, a local Ray head
    that keeps replicas warm between runs. Ctrl-C stops it all."""
    from orchestration.deployment import DeploymentError, serve

    studio = _settings().studio
    home = _dagster_home()
    try:
        code = serve(home, host, port, start_ray=not no_ray, echo=lambda line: click.echo(line, err=True),
                     studio=(studio.host, studio.port, studio.url))
    except DeploymentError as error:
        raise click.ClickException(str(error)) from None
    raise SystemExit(code)


@cli.command()
@click.option("--host", help="Address to bind (default STARLOOM_STUDIO_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default STARLOOM_STUDIO_PORT, 3001).")
def studio(host: str | None, port: int | None) -> None:
    """Serve the studio page alone: watch episodes, approve, reject or revise their shots, start a
    special. Decisions need STARLOOM_REVIEW_TOKEN; `starloom ui` starts the page beside Dagster."""
    from orchestration.studio.app import serve

    settings = _settings()
    if os.environ.get("DAGSTER_HOME"):  # the run states and specials come from Dagster when it is set up
        _dagster_home()
    click.echo(f"studio page on http://{host or settings.studio.host}:{port or settings.studio.port}"
               + ("" if settings.studio.token.get_secret_value() else " (read-only: STARLOOM_REVIEW_TOKEN is not set)"), err=True)
    serve(settings, host, port)


@cli.command()
@click.option("--shutdown", is_flag=True, help="Stop every replica (their models unload).")
def pool(shutdown: bool) -> None:
    """Show the warm replicas on the Ray cluster at RAY_ADDRESS, or shut them down."""
    address = _settings().generation.ray_address
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
                   f"busy {row.get('busy_seconds', 0):8.1f} s  load {row.get('load_seconds', 0):6.1f} s"
                   f"  node {row.get('node', '')[:12]}")


@cli.command()
@click.argument("date")
@click.option("--scene", type=int, help="Only this scene.")
def lineage(date: str, scene: int | None) -> None:
    """Print what made DATE's episode (or a special's, by its special-… id): catalog rows, prompts,
    edits, seeds, models, clips, reviews and files."""
    from rich.console import Console
    from rich.table import Table

    from orchestration.lineage import LineageError, episode_lineage
    from starloom_core.series import SPECIAL_PREFIX, PartitionDateError, parse_episode_date
    from starloom_core.storage import storage_root

    root = storage_root(_settings().storage.url)
    try:
        partition = date if date.startswith(SPECIAL_PREFIX) else parse_episode_date(date)
        chain = episode_lineage(root, partition, scene)
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
                f"{shot['cache_key']}\n{shot['clip']}\n{shot['replica']}\n{shot['code_version']}"
                + (f"\nmade in {shot['generation']['attempts']} attempt(s)" if shot["generation"]["attempts"] > 1 else "")
                + "".join(f"\npool: {event}" for event in shot["generation"]["events"]),
                ("pass" if review["passed"] else "FAIL") + f" after {review['attempts']} attempt(s)\n"
                + ", ".join(f"{k} {v} (limit {review['thresholds'].get(k, '-')})" for k, v in review["scores"].items())
                + "".join(f"\nrejected {a['clip']} ({a['by']}): {a['reason']}" + "".join(f"\n  evidence {p}" for p in a["evidence"].values())
                          for a in review["attempts_log"][:-1]),
            )
    console.print(table)
    if chain["files"]:
        files = Table("file", "bytes", "sha256", title=chain["episode_dir"])
        for entry in chain["files"].values():
            files.add_row(entry["name"], str(entry["bytes"]), entry["sha256"][:16])
        console.print(files)


@cli.command()
@click.option("--nodes", required=True, help="GPUs per node, comma-separated (e.g. 8,8: two nodes of eight).")
@click.option("--gpu-memory", type=float, required=True, help="Memory of each GPU in GiB, as the driver reports it (80, 141, 48, 24).")
@click.option("--clips", type=int, required=True, help="Clips to make (one per shot; a day is about 12).")
@click.option("--deadline", help="Finish by HH:MM (Asia/Shanghai, today); default: as fast as possible.")
@click.option("--size", default="1280x720", show_default=True, help="Clip size WIDTHxHEIGHT (81 frames).")
def plan(nodes: str, gpu_memory: float, clips: int, deadline: str | None, size: str) -> None:
    """Show the Wan2.2 A14B replica shape the planner would choose for a cluster: GPUs per replica,
    replicas, loading mode (resident, offload, fsdp) and the memory each GPU needs at its peak."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from ray_jobs.memory import MODES, ShapeDoesNotFitError, fit_replica, peak_parts
    from ray_jobs.planner import parallel_degrees, plan_replicas
    from starloom_core.settings import parse_size

    try:
        node_gpus = [int(n) for n in nodes.split(",")]
        width, height = parse_size(size)
    except ValueError as error:
        raise click.UsageError(f"--nodes must look like 8,8 and --size like 1280x720: {error}") from None
    deadline_s = None
    if deadline:
        try:
            hour, minute = (int(part) for part in deadline.split(":"))
            dt.time(hour, minute)
        except ValueError:
            raise click.UsageError(f"--deadline must look like 18:00 (HH:MM), got {deadline!r}") from None
        now = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
        deadline_s = (now.replace(hour=hour, minute=minute, second=0, microsecond=0) - now).total_seconds()
        if deadline_s <= 0:
            raise click.UsageError(f"--deadline {deadline} has passed today in Asia/Shanghai")
    try:
        chosen = plan_replicas(node_gpus, clips, deadline_s, gpu_memory_gib=gpu_memory, clip_size=(width, height, 81))
    except (ShapeDoesNotFitError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"plan: {chosen.replicas} replica(s) x {chosen.gpus_per_replica} GPU(s), {chosen.memory.mode}; "
               f"makespan {chosen.makespan_s:.0f} s" + ("" if chosen.meets_deadline else " (misses the deadline)"))
    for reason in chosen.reasons:
        click.echo(f"  {reason}")
    click.echo(f"memory per GPU at {width}x{height}x81 ({gpu_memory:g} GiB cards):")
    for gpus in parallel_degrees(max_gpus=max(node_gpus)):
        fit = fit_replica(gpus, gpu_memory, width, height, 81)
        needs = ", ".join(f"{m} {sum(g for _, g in peak_parts(m, gpus, width, height, 81)):.1f}" for m in MODES
                          if (m != "offload" or gpus == 1) and (m != "fsdp" or gpus > 1))
        mark = "*" if gpus == chosen.gpus_per_replica else " "
        click.echo(f" {mark}{gpus} GPU(s): {fit.explain() if fit else 'does not fit'}  [GiB: {needs}]")


@cli.group("ray")
def ray_group() -> None:
    """A long-lived local Ray head, so replicas stay warm between runs (state in ./var/ray)."""


@ray_group.command("start")
@click.option("--port", type=int, help="GCS port (default: a free one).")
@click.option("--num-cpus", type=int, help="CPUs the head offers (default: all).")
def ray_start(port: int | None, num_cpus: int | None) -> None:
    """Start the head (or report the running one) and print the variables to point runs at it."""
    from orchestration.local_ray import LocalRayError, start_head

    _quiet(False)
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


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print the table of every variable (the README's) instead.")
def settings_command(markdown: bool) -> None:
    """Show the settings in effect (from STARLOOM_* variables and defaults), secrets hidden."""
    from starloom_core.settings import SECTIONS, env_name, settings_table

    if markdown:
        click.echo(settings_table())
        return
    settings = _settings()
    for name, section_cls in SECTIONS.items():
        for field, value in getattr(settings, name):
            shown = f"{value[0]}x{value[1]}" if isinstance(value, tuple) else "" if value is None else value
            click.echo(f"{env_name(section_cls, field)}={shown}")


@cli.command("build-tiny-wan")
@click.argument("directory", default="var/models/tiny-wan", type=click.Path(file_okay=False))
def build_tiny_wan_command(directory: str) -> None:
    """Build the tiny random-initialised Wan2.2 pipeline and save it to DIRECTORY."""
    from ray_jobs.backends.tiny_wan import build_tiny_wan

    click.echo(build_tiny_wan(directory))


from orchestration.review_commands import COMMANDS as REVIEW_COMMANDS  # noqa: E402 - they use the helpers above

for _command in REVIEW_COMMANDS:
    cli.add_command(_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
