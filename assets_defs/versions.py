"""Metadata the UI shows. Data versions from content: an asset rebuilt with the same content keeps
its version, so Dagster marks nothing downstream stale for it (and a real change marks exactly what
it touches). Per-episode summaries for ranged runs, and tables."""

import contextlib
import hashlib
import warnings

import dagster as dg
from pydantic import BaseModel

from starloom_core.series import episode_id
from starloom_core.settings import StudioSettings
from starloom_core.studio_links import episode_url


@contextlib.contextmanager
def dagster_beta():
    """Use an API Dagster 1.13 marks beta (data versions, single-run backfills, observable sources)
    without its BetaWarning: the warning says nothing a user of starloom can act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        yield


def content_version(values: dict[str, BaseModel]) -> dg.DataVersion:
    digest = hashlib.sha256()
    for key in sorted(values):
        digest.update(values[key].model_dump_json().encode())
    return dg.DataVersion(digest.hexdigest()[:16])


def versioned_output(values: dict[str, BaseModel], metadata: dict) -> dg.Output:
    with dagster_beta():
        return dg.Output(values, data_version=content_version(values), metadata=metadata)


def studio_links(studio: StudioSettings, keys: list[str]) -> dict:
    """Metadata linking each episode's studio page (watch, approve, reject): a URL the UI opens for
    one episode, a list of links for several."""
    if len(keys) == 1:
        return {"studio_page": dg.MetadataValue.url(episode_url(studio, keys[0]))}
    return {"studio_pages": dg.MetadataValue.md("\n".join(f"- [{episode_id(k)}]({episode_url(studio, k)})" for k in keys))}


def per_episode(values: dict, describe) -> dict:
    """Output metadata: one episode's as is; several episodes' as one markdown list, each named."""
    if len(values) == 1:
        return describe(next(iter(values.values())))
    lines = []
    for key, value in values.items():
        shown = {k: v for k, v in describe(value).items() if not isinstance(v, dg.MetadataValue)}
        lines.append(f"- **{key}**: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    return {"episodes": len(values), "summary": dg.MetadataValue.md("\n".join(lines))}


def _column_type(value) -> str:
    return "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else \
        "float" if isinstance(value, float) else "string"


def ui_table(rows: list[dict]) -> dg.TableMetadataValue:
    """A table for the asset's page: one record per row, column types read from the first row."""
    columns = [dg.TableColumn(name, _column_type(value)) for name, value in (rows[0].items() if rows else ())]
    return dg.MetadataValue.table(records=[dg.TableRecord(row) for row in rows], schema=dg.TableSchema(columns=columns))
