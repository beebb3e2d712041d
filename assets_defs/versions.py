"""Data versions from content: an asset rebuilt with the same content keeps its version, so Dagster
marks nothing downstream stale for it (and a real change marks exactly what it touches)."""

import hashlib
import warnings

import dagster as dg
from pydantic import BaseModel


def content_version(value: BaseModel) -> dg.DataVersion:
    return dg.DataVersion(hashlib.sha256(value.model_dump_json().encode()).hexdigest()[:16])


def versioned_output(value: BaseModel, metadata: dict) -> dg.Output:
    with warnings.catch_warnings():  # data_version on Output is beta in Dagster 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(value, data_version=content_version(value), metadata=metadata)
