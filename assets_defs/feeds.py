"""The series feeds: JSON Feed 1.1 (episodes/feed.json) and RSS 2.0 with enclosures (episodes/feed.xml).

Both list every published episode, newest first, with absolute URLs under the public base URL.
feed.json is the record each update starts from; feed.xml is rebuilt from it every time.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from pathlib import PurePosixPath

from feedgen.feed import FeedGenerator
from upath import UPath

from starloom_core.storage import atomic_write_bytes, atomic_write_text, episode_dir
from starloom_core.stored_state import CorruptStateError, read_json

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
TITLE = "每日一星座 · A Constellation a Day"
DESCRIPTION = "A constellation a day: its myth and its place in tonight's sky, as a short film in Chinese and English."
AIR_TIME = "T18:00:00+08:00"  # the evening slot, in the series timezone (Asia/Shanghai keeps no summer time)
_log = logging.getLogger(__name__)
VIDEO_ROLES = {"video": "landscape", "video_vertical": "vertical"}  # alternates of one film, per JSON Feed 1.1


class FeedConfigError(ValueError):
    """The public base URL cannot be used for the feeds' links."""


def public_base_url(configured: str, root: UPath) -> str:
    """Where the storage root is served, ending in "/": STARLOOM_PUBLIC_URL when set, else the root's
    own URL (file:///… for a local folder, s3://… for a bucket). That default points at exactly the
    files the feed describes and opens in a local player on the studio's machine; it invents no web
    host that might not serve them. Feeds for podcast and video apps need the configured https URL."""
    if not configured:
        return root.as_uri().rstrip("/") + "/"
    parts = urllib.parse.urlsplit(configured)
    if not parts.scheme or not (parts.netloc or parts.scheme == "file"):
        raise FeedConfigError(f"public URL {configured!r} is not an absolute URL: set STARLOOM_PUBLIC_URL to where "
                              "the storage root is served, e.g. https://cdn.example.com/starloom/")
    return configured.rstrip("/") + "/"


def url_of(base_url: str, root: UPath, path: UPath) -> str:
    """The public URL of `path`: the storage root's layout, below the base URL."""
    relative = PurePosixPath(path.path).relative_to(PurePosixPath(root.path))
    return base_url + urllib.parse.quote(relative.as_posix())


def content_text(manifest: dict) -> str:
    """The episode in words: its English title (and a special's request), then the narration in the
    episode's language and then the other, one scene a line."""
    head = [manifest["title"]["en"]] + ([manifest["request"]] if manifest.get("request") else [])
    spoken = manifest["language"]
    languages = [spoken] + sorted({lang for s in manifest["scenes"] for lang in s["narration"]} - {spoken})
    paragraphs = ["\n".join(head)] + ["\n".join(s["narration"][lang] for s in manifest["scenes"]) for lang in languages]
    return "\n\n".join(paragraphs)


def feed_item(manifest: dict, directory_url: str) -> dict:
    """The JSON Feed 1.1 item of a published episode, from its manifest; `directory_url` is the public
    URL of its folder, ending in "/". Pure."""
    files, duration = manifest["files"], round(manifest["duration_seconds"], 2)
    title = f"{manifest['constellation']['chinese']} {manifest['constellation']['latin']} · {manifest['title']['zh']}"
    video_url = directory_url + urllib.parse.quote(files["video"]["name"])
    return {
        "id": manifest["episode"], "url": video_url, "title": title, "content_text": content_text(manifest),
        "summary": manifest.get("request") or manifest["title"]["en"],
        "date_published": manifest["date"] + AIR_TIME, "language": manifest["language"],
        "image": directory_url + urllib.parse.quote(files["poster"]["name"]),
        # The same title on every cut marks them as alternates of one film (JSON Feed 1.1, attachments).
        "attachments": [{"url": directory_url + urllib.parse.quote(files[role]["name"]), "mime_type": "video/mp4",
                         "title": title, "size_in_bytes": files[role]["bytes"], "duration_in_seconds": duration}
                        for role in VIDEO_ROLES if role in files],
    }


def rss_feed(feed: dict) -> bytes:
    """RSS 2.0 of a JSON Feed, for podcast and video apps: one item per episode with the landscape mp4
    as its enclosure, iTunes duration and image. Deterministic: lastBuildDate is the newest episode's."""
    generator = FeedGenerator()
    generator.load_extension("podcast")
    generator.title(feed["title"])
    generator.description(feed["description"])
    generator.link(href=feed["feed_url"].removesuffix(".json") + ".xml", rel="self")
    generator.link(href=feed["home_page_url"], rel="alternate")  # last: feedgen makes the last link RSS's <link>
    generator.generator("starloom")
    for item in feed["items"]:
        entry = generator.add_entry(order="append")  # feed order: newest first
        video = item["attachments"][0]
        entry.guid(item["id"], permalink=False)
        entry.title(item["title"])
        entry.link(href=item["url"])
        entry.description(item["content_text"])
        entry.enclosure(video["url"], video["size_in_bytes"], video["mime_type"])
        entry.pubDate(datetime.fromisoformat(item["date_published"]))
        entry.podcast.itunes_duration(round(video["duration_in_seconds"]))
        entry.podcast.itunes_image(item["image"])
    if feed["items"]:
        generator.lastBuildDate(datetime.fromisoformat(feed["items"][0]["date_published"]))
    return generator.rss_str(pretty=True)


def feed_items_of(record: object) -> list[dict]:
    """The items of a stored feed.json, or ValueError when it is not a feed starloom writes."""
    if not isinstance(record, dict) or not isinstance(record.get("items"), list):
        raise ValueError("expected an object with a list of items")
    if not all(isinstance(item, dict) and isinstance(item.get("id"), str) for item in record["items"]):
        raise ValueError("field items: every item needs an id")
    return record["items"]


def published_episode_ids(root: UPath) -> list[str]:
    """Every episode folder under episodes/ that holds a manifest (staging folders start with a dot)."""
    episodes = root / "episodes"
    if not episodes.exists():
        return []
    return sorted(p.name for p in episodes.iterdir() if not p.name.startswith(".") and (p / "manifest.json").exists())


def stored_feed_items(root: UPath, warn: Callable[[str], None]) -> list[dict]:
    """The items episodes/feed.json lists. A corrupt feed is rebuilt: every published episode's
    manifest still says what its item is, so the old items are only stubs pointing at them."""
    path = root / "episodes" / "feed.json"
    if not path.exists():
        return []
    remedy = "it is rebuilt from the published episodes' manifests"
    try:
        return feed_items_of(read_json(path, remedy))
    except ValueError as error:
        problem = error if isinstance(error, CorruptStateError) else CorruptStateError(path, str(error), remedy)
        warn(str(problem))
        return [{"id": episode} for episode in published_episode_ids(root)]


def update_feeds(root: UPath, manifest: dict, base_url: str, warn: Callable[[str], None] = _log.warning) -> dict:
    """Add (or replace) the episode's item in episodes/feed.json and rebuild episodes/feed.xml from it.
    Idempotent. Items written under another base URL, or by an older starloom (file paths, no
    content_text), are rebuilt from their episode's manifest, so moving the files or upgrading
    repairs the whole feed; such an item whose manifest is gone (or corrupt) is dropped, with a
    warning for a corrupt one. Both files are built before either is written, each atomically."""
    episodes = root / "episodes"
    path = episodes / "feed.json"

    def item_of(episode_manifest: dict) -> dict:
        directory = episode_dir(root, episode_manifest["episode"])
        return feed_item(episode_manifest, url_of(base_url, root, directory) + "/")

    items = [item_of(manifest)]
    for item in stored_feed_items(root, warn):
        if item["id"] == manifest["episode"]:
            continue
        if item.get("url", "").startswith(base_url) and "content_text" in item:
            items.append(item)
            continue
        stored = episode_dir(root, item["id"]) / "manifest.json"
        if not stored.exists():  # a stale item whose episode is gone from storage is left out: its links would be dead
            continue
        try:
            items.append(item_of(read_json(stored, f"run `starloom episode {item['id']}` to publish it again")))
        except (ValueError, KeyError, TypeError) as error:
            warn(f"{item['id']} is left out of the feed: {error if isinstance(error, ValueError) else f'{stored} lacks {error}'}")
    feed = {
        "version": JSON_FEED_VERSION, "title": TITLE, "description": DESCRIPTION,
        "home_page_url": base_url, "feed_url": url_of(base_url, root, path),
        "items": sorted(items, key=lambda i: (i["date_published"], i["id"]), reverse=True),
    }
    rss = rss_feed(feed)
    atomic_write_bytes(episodes / "feed.xml", rss)
    atomic_write_text(path, json.dumps(feed, ensure_ascii=False, indent=2))  # last: the record the next update reads
    return feed
