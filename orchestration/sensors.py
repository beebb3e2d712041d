"""Sensors.

- Failure notices: a failed run posts the partition, the failed step and its error to the
  publishing webhook, through the same client as the completion webhook (signed and retried the same
  way), so an operator hears of it before the evening slot.
- Approvals: once a person has decided on every clip of a waiting episode, the rest of its chain is
  launched (or the rejected clips are made again), whoever recorded the decisions.
"""

from __future__ import annotations

import dataclasses
import json

import dagster as dg

from assets_defs.chain import DAILY, SPECIAL, Chain
from assets_defs.resources import Publisher, Storage
from assets_defs.approvals import approval_run
from starloom_core.series import is_daily_key
from starloom_core.stored_state import CorruptStateError


def root_error(error) -> str:
    """Dagster wraps a step's exception; the operator wants the innermost message."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()[:2000]


def failure_report(context: dg.RunFailureSensorContext) -> dict:
    run = context.dagster_run
    steps = [{"step": event.step_key, "error": root_error(event.event_specific_data.error)}
             for event in context.get_step_failure_events()]
    return {
        "event": "run_failed", "run_id": run.run_id, "job": run.job_name,
        "partition": run.tags.get("dagster/partition", ""), "failed_steps": steps,
        "message": context.failure_event.message or "",
    }


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30)
def episode_failure_sensor(context: dg.RunFailureSensorContext, publisher: Publisher):
    """Posts each failed run's partition, step and error to the webhook."""
    if not publisher.settings.webhook_url:
        return dg.SkipReason("no webhook configured (STARLOOM_WEBHOOK_URL)")
    # A sensor tick must end within Dagster's 60 s evaluation limit: shorter waits than the episode's
    # delivery (each attempt at most 5 s plus a 5 s wait), and a notice that cannot get through is a warning in the tick's log.
    webhook = dataclasses.replace(publisher.webhook(), timeout_s=5.0, wait_max_s=5.0)
    report = failure_report(context)
    # One id per failed run: a receiver that sees it twice (a tick retried after a timeout) can drop the second.
    delivery = webhook.deliver(report, message_id=f"run_failed_{report['run_id']}")
    if not delivery.delivered:
        context.log.warning(f"failure notice for run {report['run_id']} not delivered: {'; '.join(delivery.errors)}")
    return None


def build_approval_sensor(chain: Chain) -> dg.SensorDefinition:
    """Launches the rest of the chain for an episode once every scene is approved, and the making
    again of a rejected scene, whoever recorded the decisions (`starloom approve`, `reject`, the library)."""
    rest = [chain.key("reviewed_clips"), chain.key("final_episode")]
    again = [chain.key("scene_prompts"), chain.key("raw_clips"), *rest]  # a revise edit changes the prompt

    @dg.sensor(name=f"{chain.name}_approval_sensor", target=dg.AssetSelection.assets(*again),
               minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING)
    def approval_sensor(context: dg.SensorEvaluationContext, storage: Storage):
        root = storage.root()
        folder = root / "approvals"
        if not folder.exists():
            return dg.SkipReason("no decisions recorded yet")
        requests = []
        for episode in folder.iterdir():
            decisions = episode / "decisions"
            first = next((p for p in sorted(decisions.iterdir(), key=lambda p: p.name) if p.name.endswith(".json")), None) \
                if decisions.exists() else None
            if first is None:
                continue
            key = json.loads(first.read_text())["episode"]
            if is_daily_key(key) == bool(chain.key_prefix):
                continue  # the other chain's episode
            try:
                wanted = approval_run(root, key)
            except CorruptStateError as error:
                context.log.warning(str(error))
                continue
            if wanted:
                requests.append(dg.RunRequest(run_key=f"{key}:{wanted[1]}", partition_key=key,
                                              asset_selection=rest if wanted[0] == "rest" else again,
                                              tags={"starloom/launched_by": f"approval ({wanted[0]})"}))
        return requests or dg.SkipReason("no episode has every scene decided since its last run")

    return approval_sensor


daily_approval_sensor = build_approval_sensor(DAILY)
special_approval_sensor = build_approval_sensor(SPECIAL)
