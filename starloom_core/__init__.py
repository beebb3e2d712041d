"""What every layer shares: storage, the series' calendar and names, fonts, sky geometry, media tools.

Imports neither dagster nor ray, so the Dagster glue, the Ray actors and the CLI can all use it.
"""
