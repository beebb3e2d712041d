"""Clip generation on Ray: requests, backends, replica actors and the pool. Never imports dagster."""
