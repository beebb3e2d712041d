"""Failure notices: a failed run posts the partition, the failed step and its error to the
publishing webhook, through the same client as the completion webhook (signed and retried the same
way), so an operator hears of it before the evening slot."""

from __future__ import annotations

import dataclasses

import dagster as dg

from assets_defs.resources import Publisher


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
