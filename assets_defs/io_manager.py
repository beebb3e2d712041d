"""Stores asset values under the storage root: the catalog as parquet tables, each episode's
records as JSON, one file per partition (a multi-day step hands over {partition key: record})."""

from __future__ import annotations

import typing

import dagster as dg
from pydantic import BaseModel

from assets_defs.catalog import Catalog, read_catalog, write_catalog
from assets_defs.failures import failing_at_once_on_corrupt_state
from starloom_core.series import episode_id
from starloom_core.storage import asset_path, atomic_write_text, catalog_dir, storage_root
from starloom_core.stored_state import read_model


# Not Dagster's UPathIOManager: its handle_output refuses an output for several partitions, and every
# stage here hands over {partition key: record} for a whole single-run backfill; specials' keys are
# free text, stored under their episode id rather than the key itself.
class StarloomIOManager(dg.ConfigurableIOManager):
    storage_url: str  # StorageSettings.url (an IO manager cannot hold a settings object as a dependency)

    def _root(self):
        return storage_root(self.storage_url)

    def _path(self, context: dg.OutputContext | dg.InputContext, key: str):
        return asset_path(self._root(), context.asset_key.to_user_string(), episode_id(key), ".json")

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        name = context.asset_key.to_user_string()
        if isinstance(obj, Catalog):
            write_catalog(obj, catalog_dir(self._root()))
            return
        if not context.has_asset_partitions and isinstance(obj, BaseModel):  # the series plan
            atomic_write_text(asset_path(self._root(), name, None, ".json"), obj.model_dump_json())
            return
        if not (context.has_asset_partitions and isinstance(obj, dict)):
            raise TypeError(f"{name}: expected {{partition: record}} for a partitioned asset, got a {type(obj).__name__}")
        missing = set(context.asset_partition_keys) - set(obj)
        if missing:
            raise ValueError(f"{name}: no record for partition(s) {', '.join(sorted(missing))}")
        for key in context.asset_partition_keys:
            if not isinstance(obj[key], BaseModel):
                raise TypeError(f"{name}[{key}]: cannot store a {type(obj[key]).__name__}")
            atomic_write_text(self._path(context, key), obj[key].model_dump_json(indent=2))

    def load_input(self, context: dg.InputContext) -> object:
        kind = context.dagster_type.typing_type
        if kind is Catalog:
            return read_catalog(catalog_dir(self._root()))
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            path = asset_path(self._root(), context.asset_key.to_user_string(), None, ".json")
            if not path.exists():
                raise FileNotFoundError(f"{context.asset_key.to_user_string()}: nothing stored at {path}; materialize it first")
            with failing_at_once_on_corrupt_state():
                return read_model(path, kind, f"materialize {context.asset_key.to_user_string()} again to rewrite it")
        model = typing.get_args(kind)[1]  # dict[str, Model]
        loaded = {}
        for key in context.asset_partition_keys:
            path = self._path(context, key)
            if not path.exists():
                raise FileNotFoundError(f"{context.asset_key.to_user_string()}[{key}]: nothing stored at {path}; materialize it first")
            with failing_at_once_on_corrupt_state():
                loaded[key] = read_model(path, model, f"materialize {context.asset_key.to_user_string()} for {key} "
                                                      "again to rewrite it")
        return loaded
