"""Links into the studio page, for asset metadata (MetadataValue.url) and messages."""

from __future__ import annotations

from urllib.parse import quote

from starloom_core.series import episode_id
from starloom_core.settings import StudioSettings


def episode_url(studio: StudioSettings, key: str) -> str:
    """The studio page of the episode of partition `key`: a day's date, or a special by its id (its key is free text)."""
    return f"{studio.url}/episode/{quote(episode_id(key), safe='')}"
