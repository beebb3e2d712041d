"""The series feeds: JSON Feed 1.1 (episodes/feed.json) and RSS 2.0 with enclosures (episodes/feed.xml).

Both list every published episode, newest first, with absolute URLs under the public base URL.
feed.json is the record each update starts from; feed.xml is rebuilt from it every time.
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import datetime
from pathlib import PurePosixPath

from feedgen.feed import FeedGenerator
from upath import UPath

from starloom_core.storage import atomic_write_bytes, atomic_write_text, episode_dir

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
TITLE = "每日一星座 · A Constellation a Day"
DESCRIPTION = "A constellation a day: its myth and its place in tonight's sky, as a short film in Chinese and English."
AIR_TIME = "T18:00:00+08:00"  # the evening slot, in the series timezone (Asia/Shanghai keeps no summer time)
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


def update_feeds(root: UPath, manifest: dict, base_url: str) -> dict:
    """Add (or replace) the episode's item in episodes/feed.json and rebuild episodes/feed.xml from it.
    Idempotent. Items written under another base URL, or by an older starloom (file paths, no
    content_text), are rebuilt from their episode's manifest, so moving the files or upgrading
    repairs the whole feed; such an item whose manifest is gone is dropped. Both files are built
    before either is written, each atomically."""
    episodes = root / "episodes"
    path = episodes / "feed.json"
    old = json.loads(path.read_text()) if path.exists() else {"items": []}

    def item_of(episode_manifest: dict) -> dict:
        directory = episode_dir(root, episode_manifest["episode"])
        return feed_item(episode_manifest, url_of(base_url, root, directory) + "/")

    items = [item_of(manifest)]
    for item in old["items"]:
        if item["id"] == manifest["episode"]:
            continue
        if item.get("url", "").startswith(base_url) and "content_text" in item:
            items.append(item)
            continue
        stored = episode_dir(root, item["id"]) / "manifest.json"
        if stored.exists():  # a stale item whose episode is gone from storage is left out: its links would be dead
            items.append(item_of(json.loads(stored.read_text())))
    feed = {
        "version": JSON_FEED_VERSION, "title": TITLE, "description": DESCRIPTION,
        "home_page_url": base_url, "feed_url": url_of(base_url, root, path),
        "items": sorted(items, key=lambda i: (i["date_published"], i["id"]), reverse=True),
    }
    rss = rss_feed(feed)
    atomic_write_bytes(episodes / "feed.xml", rss)
    atomic_write_text(path, json.dumps(feed, ensure_ascii=False, indent=2))  # last: the record the next update reads
    return feed
