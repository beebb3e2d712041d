"""Stores asset values under the storage root: the catalog as parquet tables, daily records as JSON."""

from __future__ import annotations

import dagster as dg
from pydantic import BaseModel

from assets_defs.catalog import Catalog, read_catalog, write_catalog
from ray_jobs.storage import asset_path, atomic_write_text, catalog_dir, storage_root


class StarloomIOManager(dg.ConfigurableIOManager):
    storage_url: str

    def _path(self, context: dg.OutputContext | dg.InputContext):
        partition = context.asset_partition_key if context.has_asset_partitions else None
        return asset_path(storage_root(self.storage_url), context.asset_key.to_user_string(), partition, ".json")

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if isinstance(obj, Catalog):
            write_catalog(obj, catalog_dir(storage_root(self.storage_url)))
        elif isinstance(obj, BaseModel):
            atomic_write_text(self._path(context), obj.model_dump_json(indent=2))
        else:
            raise TypeError(f"{context.asset_key.to_user_string()}: cannot store a {type(obj).__name__}")

    def load_input(self, context: dg.InputContext) -> object:
        kind = context.dagster_type.typing_type
        if kind is Catalog:
            return read_catalog(catalog_dir(storage_root(self.storage_url)))
        path = self._path(context)
        if not path.exists():
            raise FileNotFoundError(f"{context.asset_key.to_user_string()}: nothing stored at {path}; materialize it first")
        return kind.model_validate_json(path.read_text())
