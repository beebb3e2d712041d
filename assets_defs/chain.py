"""One episode chain, built twice: the daily series and the specials. Each stage module builds its
asset from a Chain, so both chains run the same code and differ only in partitions and key prefix.

Every stage handles several partitions in one step (BackfillPolicy.single_run): a backfill of many
days is one run whose clips share one queue on the replica pool. Values travel as
{partition key: record}, stored per partition by the IO manager.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from assets_defs.partitions import daily_partitions, special_partitions
from assets_defs.versions import dagster_beta
from starloom_core.series import episode_id


@dataclass(frozen=True)
class Chain:
    name: str  # "daily" or "special"
    partitions_def: dg.PartitionsDefinition
    key_prefix: tuple[str, ...] = ()

    def key(self, stage: str) -> dg.AssetKey:
        return dg.AssetKey([*self.key_prefix, stage])

    def ins(self, *stages: str) -> dict[str, dg.AssetIn]:
        """Upstream stages of this chain (an asset's inputs do not inherit its key prefix)."""
        return {stage: dg.AssetIn(key=self.key(stage)) for stage in stages}

    def asset(self, stage: str, group: str, **extra):
        """@dg.asset for this chain's `stage`: its partitions, key prefix and single-run backfills."""
        def decorate(fn):
            with dagster_beta():  # backfill_policy
                return dg.asset(name=stage, key_prefix=list(self.key_prefix), partitions_def=self.partitions_def,
                                group_name=group if not self.key_prefix else f"{self.name}_{group}",
                                backfill_policy=dg.BackfillPolicy.single_run(), **extra)(fn)
        return decorate


DAILY = Chain("daily", daily_partitions)
SPECIAL = Chain("special", special_partitions, ("special",))
CATALOG_IN = {"catalog": dg.AssetIn(key="catalog")}


class PartitionsFailed(RuntimeError):
    """Some episodes of a multi-episode step failed; the others' work is done and stored."""

    def __init__(self, stage: str, failures: dict[str, str]):
        self.failures = failures
        lines = "\n".join(f"- {key}: {reason}" for key, reason in failures.items())
        super().__init__(f"{stage} failed for {len(failures)} episode(s) (the others' results are stored):\n{lines}")


def each_episode(keys: list[str], work, stage: str) -> dict:
    """`work(key)` for every key; one episode's failure does not stop the others, and the step
    fails afterwards naming each failed episode and why."""
    if len(keys) == 1:  # a one-episode run fails with the original error and traceback
        return {keys[0]: work(keys[0])}
    done, failures = {}, {}
    for key in keys:
        try:
            done[key] = work(key)
        except Exception as error:  # noqa: BLE001 - reported below with the episode named
            failures[key] = f"{type(error).__name__}: {error}"
    if failures:
        raise PartitionsFailed(stage, failures)
    return done


__all__ = ["CATALOG_IN", "DAILY", "SPECIAL", "Chain", "PartitionsFailed", "each_episode", "episode_id"]
