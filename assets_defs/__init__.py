"""One module per stage of the episode chain: pure functions on top, a thin Dagster asset below."""
