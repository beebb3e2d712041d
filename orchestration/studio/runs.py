"""The studio page's view of Dagster: which episodes have a run in flight or failed, which specials
exist, and launching a special through the webserver's GraphQL API so it runs under the daemon like
a run launched from the UI. Without DAGSTER_HOME the page still works on storage alone."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from assets_defs.partitions import special_partitions
from starloom_core.settings import StudioSettings

SPECIAL_JOB = "special_episode_job"  # orchestration/schedules.py
PARTITION_TAG = "dagster/partition"
IN_FLIGHT = {"QUEUED", "NOT_STARTED", "MANAGED", "STARTING", "STARTED", "CANCELING"}


class LaunchError(RuntimeError):
    """A special could not be launched: Dagster is not set up or its webserver did not answer."""


def _instance():
    if not os.environ.get("DAGSTER_HOME"):
        return None
    import dagster as dg

    return dg.DagsterInstance.get()


def run_states(keys: list[str]) -> dict[str, str]:
    """Partition key -> "generating" (its latest run is queued or running) or "failed" (it failed or was
    canceled), for the keys whose latest run says so; {} without DAGSTER_HOME."""
    instance = _instance()
    if instance is None or not keys:
        return {}
    import dagster as dg

    with instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={PARTITION_TAG: keys}), limit=20 * len(keys))
    states: dict[str, str] = {}
    for run in runs:  # newest first: the first run of a key is its latest
        key = run.tags.get(PARTITION_TAG)
        if key in states or key is None:
            continue
        status = run.status.value
        states[key] = "generating" if status in IN_FLIGHT else "failed" if status in ("FAILURE", "CANCELED") else "done"
    return states


def dagster_specials() -> list[str]:
    """The specials' partition keys Dagster knows (some may not have reached storage yet)."""
    instance = _instance()
    if instance is None:
        return []
    with instance:
        return list(instance.get_dynamic_partitions(special_partitions.name))


def launch_special(studio: StudioSettings, key: str) -> str:
    """Add `key` as a special partition and submit the special job for it through the webserver;
    returns the run id. The webserver is asked first, so a refused launch adds no partition."""
    import requests
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    instance = _instance()
    if instance is None:
        raise LaunchError("launching a special needs DAGSTER_HOME (start the page with `starloom ui`, which sets it)")
    address = urlsplit(studio.dagster_url)
    try:  # asked before the partition is added: a launch that cannot happen leaves nothing behind
        requests.get(f"{studio.dagster_url}/server_info", timeout=10)
    except requests.RequestException as error:
        raise LaunchError(f"the Dagster webserver at {studio.dagster_url} did not answer ({type(error).__name__}): "
                          "start it with `starloom ui`, or set STARLOOM_STUDIO_DAGSTER_URL") from None
    client = DagsterGraphQLClient(address.hostname, port_number=address.port, use_https=address.scheme == "https", timeout=60)
    with instance:
        if key not in instance.get_dynamic_partitions(special_partitions.name):
            instance.add_dynamic_partitions(special_partitions.name, [key])
    try:
        return client.submit_job_execution(SPECIAL_JOB, tags={PARTITION_TAG: key})
    except DagsterGraphQLClientError as error:
        raise LaunchError(f"Dagster refused the special's run: {error}") from None
