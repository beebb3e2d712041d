"""Dagster definitions, resources, partitions, schedules and the `starloom` CLI."""
