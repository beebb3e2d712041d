"""`starloom review`, `approve` and `reject`: a person's decisions on reviewed episodes, from a terminal.

A decision is recorded under storage (assets_defs/approvals.py); with the daemon running
(`starloom ui`), the approval sensor launches the rest of the chain, or makes a rejected scene
again. Without it, `starloom episode DATE` does the same in this terminal.
"""

from __future__ import annotations

import click

WAITING_EXIT = 3  # `starloom episode` when the episode was reviewed and waits for a person


def resolve_episode(text: str) -> tuple[str, bool]:
    """(partition key, is it a special) from a date, or a special's id as lineage and the page name it
    ("special-1a2b3c4d5e"), or the special's sentence itself."""
    from starloom_core.series import SPECIAL_PREFIX, PartitionDateError, UnknownSpecialError, find_episode

    wanted = text.strip()
    specials: list[str] = []
    if wanted.startswith(SPECIAL_PREFIX) or (wanted and not wanted[:4].isdigit()):
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            specials = instance.get_dynamic_partitions("specials")
    try:
        return find_episode(text, specials)
    except PartitionDateError as error:
        raise click.UsageError(str(error)) from None
    except UnknownSpecialError as error:
        raise click.ClickException(str(error)) from None


def waiting_episodes(settings) -> list[tuple[str, str, str]]:
    """(key, why it needs a person, what waits) for every reviewed episode not yet fully approved."""
    import dagster as dg

    from assets_defs.approvals import approval_reason, load_reviewed, read_decisions, waiting_for_approval
    from starloom_core.series import episode_id
    from starloom_core.storage import storage_root

    root = storage_root(settings.storage.url)
    with dg.DagsterInstance.get() as instance:
        specials = {episode_id(k): k for k in instance.get_dynamic_partitions("specials")}
    keys = [(p.name.removesuffix(".json"), False) for p in _listing(root / "assets" / "reviewed_clips")]
    keys += [(specials[p.name.removesuffix(".json")], True) for p in _listing(root / "assets" / "special" / "reviewed_clips")
             if p.name.removesuffix(".json") in specials]
    rows = []
    for key, special in sorted(keys):
        reason = approval_reason(settings, root, key, special)
        reviewed = load_reviewed(root, key, special) if reason else None
        what = waiting_for_approval(reviewed, read_decisions(root, key)) if reviewed else ""
        if what:
            rows.append((key, reason, what))
    return rows


def _listing(folder) -> list:
    return sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name) if folder.exists() else []


def episode_review_lines(settings, key: str, special: bool) -> list[str]:
    """One line per shot: its clip, status, who decided, the review's scores and evidence."""
    from assets_defs.approvals import approval_reason, load_reviewed, read_decisions, shot_states
    from starloom_core.storage import storage_root

    root = storage_root(settings.storage.url)
    reviewed = load_reviewed(root, key, special)
    if reviewed is None:
        raise click.ClickException(f"unknown episode {key}: it has not been reviewed yet (make it with `starloom episode {key}`)")
    reason = approval_reason(settings, root, key, special)
    lines = [f"{key}: " + (f"needs a person's approval ({reason})" if reason else "needs no approval (STARLOOM_APPROVAL)")]
    for state, entry in zip(shot_states(reviewed, read_decisions(root, key)), reviewed.clips, strict=True):
        decided = f" by {state.decision.by} at {state.decision.at:%Y-%m-%d %H:%M}" if state.decision else ""
        note = f" — {state.decision.note}" if state.decision and state.decision.note else ""
        tries = f", attempt {entry.attempts}" if entry.attempts > 1 else ""
        lines.append(f"  scene {state.scene}.{state.shot}  {state.status:<8}{decided}{note}  seed {entry.clip.seed}{tries}  "
                     f"clip {entry.clip.cache_key[:12]}")
        scores = ", ".join(f"{k} {v:g}" for k, v in sorted(entry.verdict.scores.items()))
        if scores:
            lines.append(f"      review: {scores}")
        for check, path in sorted(entry.verdict.evidence.items()):
            lines.append(f"      evidence {check}: {root / path}")
    return lines


def _decide(action: str, date: str, scene: int | None, by: str, note: str, remedy: str = "", instruction: str = "") -> None:
    from assets_defs.approvals import WHAT_HAPPENS_NEXT, ApprovalError, decide, describe_decisions
    from orchestration.cli import _check_data, _dagster_home, _settings
    from starloom_core.storage import storage_root
    from starloom_core.stored_state import CorruptStateError

    settings = _settings()
    _dagster_home()
    key, special = resolve_episode(date)
    if remedy == "revise":
        _check_data(settings)  # the instruction is screened against the blocklist and edit rules
    try:
        made = decide(settings, storage_root(settings.storage.url), key, special, action, by, scene, note, remedy, instruction)
    except (ApprovalError, CorruptStateError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(describe_decisions(key, made))
    click.echo(f"{WHAT_HAPPENS_NEXT}; without it, `starloom {'special' if special else 'episode'} {key}` does it here", err=True)


@click.command()
@click.argument("date", required=False)
@click.option("--mark", is_flag=True, help="Mark DATE as needing a person's approval (with --by).")
@click.option("--unmark", is_flag=True, help="Take a producer's mark off DATE (with --by).")
@click.option("--by", default="", help="Who marks the date.")
def review(date: str | None, mark: bool, unmark: bool, by: str) -> None:
    """What waits for a person, and why; with DATE, each shot's status, review scores and evidence."""
    from assets_defs.approvals import ApprovalError, mark_for_approval
    from orchestration.cli import _dagster_home, _settings
    from starloom_core.storage import storage_root

    settings = _settings()
    _dagster_home()
    if mark or unmark:
        if not date or (mark and unmark):
            raise click.UsageError("--mark and --unmark take a DATE, and only one of them")
        key, _ = resolve_episode(date)
        try:
            mark_for_approval(storage_root(settings.storage.url), key, by, marked=mark)
        except ApprovalError as error:
            raise click.UsageError(str(error)) from None
        click.echo(f"{key}: {'marked' if mark else 'no longer marked'} as needing a person's approval (by {by.strip()})")
        return
    if date:
        key, special = resolve_episode(date)
        for line in episode_review_lines(settings, key, special):
            click.echo(line)
        return
    rows = waiting_episodes(settings)
    for key, reason, what in rows:
        click.echo(f"{key}  ({reason})  {what}")
    click.echo(f"{len(rows)} episode(s) wait for approval" + (" (STARLOOM_APPROVAL=none)" if settings.review.approval == "none" else ""),
               err=True)


@click.command()
@click.argument("date")
@click.option("--scene", type=int, help="Only this scene (default: every shot not yet approved).")
@click.option("--by", required=True, help="Who approves (kept with the decision).")
@click.option("--note", default="", help="A note kept with the decision.")
def approve(date: str, scene: int | None, by: str, note: str) -> None:
    """Approve DATE's current clips (or one scene's) for publishing."""
    _decide("approve", date, scene, by, note)


@click.command()
@click.argument("date")
@click.option("--scene", type=int, required=True, help="The scene to reject.")
@click.option("--by", required=True, help="Who rejects (kept with the decision).")
@click.option("--new-seed", "new_seed", is_flag=True, help="Make the scene's clips again on a new seed.")
@click.option("--revise", "instruction", help="Make the scene again with this edit (as `starloom revise`).")
@click.option("--note", default="", help="Why, kept with the decision.")
def reject(date: str, scene: int, by: str, new_seed: bool, instruction: str | None, note: str) -> None:
    """Reject one scene of DATE: its clips are made again, on a new seed or revised, and come back for review."""
    if new_seed == (instruction is not None):
        raise click.UsageError("give exactly one of --new-seed or --revise \"…\"")
    _decide("reject", date, scene, by, note, "new_seed" if new_seed else "revise", instruction or "")


def waiting_message(settings, keys: list[str], special: bool) -> str | None:
    """What `starloom episode`/`special` say when the run stopped at the approval check; None if it did not."""
    from assets_defs.approvals import approval_reason, load_reviewed, read_decisions, waiting_for_approval
    from starloom_core.storage import storage_root

    root = storage_root(settings.storage.url)
    lines = []
    for key in keys:
        reason = approval_reason(settings, root, key, special)
        reviewed = load_reviewed(root, key, special) if reason else None
        what = waiting_for_approval(reviewed, read_decisions(root, key)) if reviewed else ""
        if what:
            lines.append(f"episode {key} was reviewed and waits for a person's approval ({reason}): {what}. "
                         f"See each shot's scores and evidence with `starloom review {key}` (or the review_table "
                         f"of reviewed_clips in the Dagster UI), "
                         f"then `starloom approve {key} --by NAME` or `starloom reject {key} --scene N --by NAME --new-seed`")
    return "\n".join(lines) or None


COMMANDS = [review, approve, reject]
