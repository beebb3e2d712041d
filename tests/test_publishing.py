"""Manifest, feeds and the signed webhook, against a real local HTTP receiver that verifies like a
studio's would (the standardwebhooks library), and feeds read back by feedparser."""

import base64
import dataclasses
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import feedparser
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from assets_defs.feeds import JSON_FEED_VERSION, FeedConfigError, public_base_url, update_feeds
from assets_defs.publishing import file_entries, manifest_mismatches
from assets_defs.webhooks import LEGACY_SIGNATURE_HEADER, WebhookClient, WebhookConfigError, signing_key
from starloom_core.net import free_port
from starloom_core.storage import storage_root

SECRET = "s3cret-for-tests"  # a plain passphrase, as most studios set it
WHSEC = "whsec_" + base64.b64encode(b"\x00\x01 binary key \xff").decode()


def as_whsec(secret: str) -> str:
    """What a receiver configures in a Standard Webhooks library for our secret (README, "Webhooks")."""
    return secret if secret.startswith("whsec_") else "whsec_" + base64.b64encode(secret.encode()).decode()


class Receiver:
    """Answers with the next entry of `script` (then 200), verifying each request's signatures as a
    receiver would. An entry is a status, (status, headers), or "stall" (answer after the client gave up)."""

    def __init__(self, script: list, secret: str = SECRET):
        self.script, self.received, self.valid, self.headers, self.bodies, self.arrived = list(script), [], [], [], [], []
        verifier, legacy_key = Webhook(as_whsec(secret)), signing_key(secret)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.arrived.append(time.monotonic())
                headers = {name.lower(): value for name, value in self.headers.items()}  # names are case-blind
                try:
                    verifier.verify(body, headers)
                    standard = True
                except WebhookVerificationError:
                    standard = False
                legacy = "sha256=" + hmac.new(legacy_key, body, hashlib.sha256).hexdigest()
                outer.valid.append(standard and hmac.compare_digest(legacy, headers.get(LEGACY_SIGNATURE_HEADER.lower(), "")))
                outer.headers.append(headers)
                outer.bodies.append(body)
                outer.received.append(json.loads(body))
                answer = outer.script.pop(0) if outer.script else 200
                if answer == "stall":
                    time.sleep(0.6)
                    answer = 200
                status, extra = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a stalled answer finds the client gone; that is the point of the stall

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []
    yield lambda script=(), secret=SECRET: made.append(Receiver(list(script), secret)) or made[-1]
    for receiver in made:
        receiver.close()


def client(url: str, secret: str = SECRET, **settings) -> WebhookClient:
    return WebhookClient.from_settings(url, secret, attempts=settings.pop("attempts", 4),
                                       backoff_s=settings.pop("backoff_s", 0.05))


# --- webhooks: signatures -----------------------------------------------------------------------

@pytest.mark.parametrize("secret, key", [
    (SECRET, SECRET.encode()),  # a passphrase: its UTF-8 bytes
    ("pässwörd", "pässwörd".encode()),
    (WHSEC, b"\x00\x01 binary key \xff"),  # a whsec_ secret: the base64 after the prefix, decoded
    ("whsec_" + base64.b64encode(b"unpadded").decode().rstrip("="), b"unpadded"),
])
def test_secrets_map_to_signing_keys(secret, key):
    assert signing_key(secret) == key


@pytest.mark.parametrize("secret, says", [
    ("", "set STARLOOM_WEBHOOK_SECRET"),
    ("whsec_not base64!", "the rest is not base64"),
    ("whsec_", "nothing after it"),
])
def test_unusable_secrets_are_refused_with_the_fix(secret, says):
    with pytest.raises(WebhookConfigError, match=says):
        client("https://hooks.example.com/starloom", secret)


def test_a_url_that_is_not_http_is_refused_with_the_fix():
    with pytest.raises(WebhookConfigError, match="STARLOOM_WEBHOOK_URL"):
        client("hooks.example.com/starloom")


@pytest.mark.parametrize("secret", [SECRET, WHSEC])
def test_webhook_is_signed_and_retried_with_backoff_under_one_id(receiver_factory, secret):
    receiver = receiver_factory([500, 503], secret)
    delivery = client(receiver.url, secret).deliver({"date": "2026-11-27", "title": "天蝎座"}, message_id="episode_x_v1")
    assert delivery.delivered and delivery.attempts == 3 and delivery.status == 200
    assert delivery.errors == ["attempt 1: HTTP 500", "attempt 2: HTTP 503"]
    assert receiver.valid == [True, True, True] and receiver.received[-1] == {"date": "2026-11-27", "title": "天蝎座"}
    assert {h["webhook-id"] for h in receiver.headers} == {"episode_x_v1"}  # a retry is the same message
    gaps = [b - a for a, b in zip(receiver.arrived, receiver.arrived[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # exponential: backoff_s, then twice that (plus jitter)


def test_the_signature_binds_the_timestamp_so_a_replay_can_be_rejected(receiver_factory):
    receiver = receiver_factory()
    client(receiver.url).deliver({"x": 1})
    body, headers = receiver.bodies[0], receiver.headers[0]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    verifier = Webhook(as_whsec(SECRET))
    assert verifier.verify(body, headers) == {"x": 1}
    assert Webhook(SECRET.encode()).verify(body, headers) == {"x": 1}  # README's other form: the passphrase's bytes
    stale = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 600)}
    with pytest.raises(WebhookVerificationError, match="too old"):
        verifier.verify(body, stale)  # a request captured and re-sent ten minutes later
    refreshed = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verifier.verify(body, refreshed)  # a replayer cannot make it fresh without the secret


def test_a_wrong_secret_fails_verification(receiver_factory):
    receiver = receiver_factory()
    client(receiver.url, "another secret").deliver({"x": 1})
    assert receiver.valid == [False]


# --- webhooks: what is retried --------------------------------------------------------------------

def test_retry_after_is_honoured_and_408_is_retried(receiver_factory):
    receiver = receiver_factory([(429, {"Retry-After": "1"}), 408])
    delivery = client(receiver.url).deliver({})
    assert delivery.delivered and delivery.attempts == 3
    assert delivery.errors == ["attempt 1: HTTP 429 (Retry-After 1 s)", "attempt 2: HTTP 408"]
    assert receiver.arrived[1] - receiver.arrived[0] >= 1.0


def test_a_retry_after_longer_than_we_wait_ends_the_delivery(receiver_factory):
    receiver = receiver_factory([(503, {"Retry-After": "3600"})])
    delivery = dataclasses.replace(client(receiver.url), wait_max_s=5).deliver({})
    assert not delivery.delivered and delivery.attempts == 1 and delivery.status == 503
    assert delivery.errors == ["attempt 1: HTTP 503 (Retry-After 3600 s)"]


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_is_final_at_once(receiver_factory, status):
    receiver = receiver_factory([status])
    refused = client(receiver.url).deliver({})
    assert not refused.delivered and refused.attempts == 1 and refused.status == status
    assert len(receiver.received) == 1


def test_unreachable_or_stalled_receivers_are_retried_and_reported_not_raised(receiver_factory):
    gone = client(f"http://127.0.0.1:{free_port()}/hook", attempts=2).deliver({})
    assert not gone.delivered and gone.attempts == 2 and gone.status is None and len(gone.errors) == 2
    assert SECRET not in " ".join(gone.errors)
    receiver = receiver_factory(["stall"])
    late = dataclasses.replace(client(receiver.url), timeout_s=0.2).deliver({})
    assert late.delivered and late.attempts == 2 and "timed out" in late.errors[0]


def test_the_failure_sensor_sends_through_the_same_client(receiver_factory):
    import dagster as dg

    from assets_defs.resources import Publisher
    from starloom_core.settings import PublishingSettings
    from orchestration.sensors import episode_failure_sensor

    @dg.asset
    def broken():
        raise ValueError("the sky is closed tonight")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([broken], instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    [failure] = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    receiver = receiver_factory([502])
    publisher = Publisher(settings=PublishingSettings(webhook_url=receiver.url, webhook_secret=SECRET, webhook_backoff_seconds=0.01))
    # A resource holding its settings section opens like the daemon opens it: in a context manager.
    with dg.build_run_status_sensor_context(
        sensor_name="episode_failure_sensor", dagster_event=failure.event_log_entry.dagster_event,
        dagster_instance=instance, dagster_run=run, resources={"publisher": publisher},
    ) as status_context:
        episode_failure_sensor(status_context.for_run_failure())
    assert receiver.valid == [True, True]  # the 502 was retried, both attempts signed
    assert {h["webhook-id"] for h in receiver.headers} == {f"run_failed_{run.run_id}"}
    notice = receiver.received[-1]
    assert notice["event"] == "run_failed" and notice["failed_steps"][0]["step"] == "broken"
    assert "the sky is closed tonight" in notice["failed_steps"][0]["error"]


# --- manifest ------------------------------------------------------------------------------------

def test_manifest_hashes_catch_a_changed_file(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"film")
    manifest = {"files": file_entries({"video": tmp_path / "a.mp4"})}
    assert manifest["files"]["video"] == {"name": "a.mp4", "bytes": 4, "sha256": hashlib.sha256(b"film").hexdigest()}
    assert manifest_mismatches(manifest, storage_root(tmp_path)) == []
    (tmp_path / "a.mp4").write_bytes(b"edited")
    assert manifest_mismatches(manifest, storage_root(tmp_path)) == ["video: a.mp4 does not match its SHA-256"]


# --- feeds ---------------------------------------------------------------------------------------

def publish_fake_episode(root, day: str, latin: str, vertical: bool = True, request: str = "") -> dict:
    """An episode folder as final_episode leaves it: files, then the manifest naming them."""
    directory = root / "episodes" / day
    directory.mkdir(parents=True, exist_ok=True)
    files = {"video": directory / "episode.mp4", "poster": directory / "poster.png"}
    if vertical:
        files["video_vertical"] = directory / "episode.vertical.mp4"
    for role, path in files.items():
        path.write_bytes(f"{role} of {day}".encode() * 10)
    manifest = {
        "episode": day, "date": day[:10], "language": "zh", "duration_seconds": 61.234,
        **({"request": request} if request else {}),
        "title": {"zh": f"{latin}的故事", "en": f"The story of {latin}"},
        "constellation": {"latin": latin, "chinese": "星座"},
        "scenes": [{"narration": {"zh": "第一幕。", "en": "Scene one."}}, {"narration": {"zh": "第二幕。", "en": "Scene two."}}],
        "files": file_entries({role: path for role, path in files.items()}),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
    return manifest


def absolute(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme == "file")


def json_feed_problems(feed: dict) -> list[str]:
    """What https://jsonfeed.org/version/1.1 requires (and this series promises) that `feed` lacks."""
    problems = []
    if feed.get("version") != JSON_FEED_VERSION:
        problems.append(f"version is {feed.get('version')!r}")
    problems += [f"top-level {k} is not an absolute URL" for k in ("home_page_url", "feed_url") if not absolute(feed.get(k, ""))]
    if not isinstance(feed.get("title"), str) or not isinstance(feed.get("items"), list):
        problems.append("title and items are required")
    for item in feed.get("items", []):
        name = item.get("id", "?")
        if not isinstance(item.get("id"), str):
            problems.append(f"{name}: id must be a string")
        if not item.get("content_text") and not item.get("content_html"):
            problems.append(f"{name}: content_text or content_html is required")
        problems += [f"{name}: {k} is not an absolute URL" for k in ("url", "image") if not absolute(item.get(k, ""))]
        if datetime.fromisoformat(item["date_published"]).tzinfo is None:
            problems.append(f"{name}: date_published has no offset (RFC 3339)")
        for attachment in item.get("attachments") or [{}]:
            if not absolute(attachment.get("url", "")) or not isinstance(attachment.get("mime_type"), str):
                problems.append(f"{name}: an attachment needs an absolute url and a mime_type")
            if not isinstance(attachment.get("size_in_bytes"), int):
                problems.append(f"{name}: attachment size_in_bytes must be an integer")
    return problems


def test_feeds_are_valid_json_feed_and_rss_with_enclosures(tmp_path):
    root = storage_root(tmp_path)
    base = public_base_url("https://cdn.example.com/starloom", root)
    assert base == "https://cdn.example.com/starloom/"
    lyra = publish_fake_episode(root, "2026-11-26", "Lyra", vertical=False)
    update_feeds(root, lyra, base)
    scorpius = publish_fake_episode(root, "2026-11-27", "Scorpius", request="为七夕讲天蝎")
    feed = update_feeds(root, scorpius, base)

    assert json.loads((root / "episodes" / "feed.json").read_text()) == feed
    assert json_feed_problems(feed) == []
    assert feed["feed_url"] == "https://cdn.example.com/starloom/episodes/feed.json"
    newest = feed["items"][0]
    assert newest["url"] == "https://cdn.example.com/starloom/episodes/2026-11-27/episode.mp4"
    assert newest["image"] == "https://cdn.example.com/starloom/episodes/2026-11-27/poster.png"
    assert newest["date_published"] == "2026-11-27T18:00:00+08:00" and newest["summary"] == "为七夕讲天蝎"
    assert newest["content_text"].split("\n\n") == [
        "The story of Scorpius\n为七夕讲天蝎", "第一幕。\n第二幕。", "Scene one.\nScene two."]  # title, then zh (spoken), then en
    assert [a["url"].rsplit("/", 1)[1] for a in newest["attachments"]] == ["episode.mp4", "episode.vertical.mp4"]
    assert newest["attachments"][0]["size_in_bytes"] == scorpius["files"]["video"]["bytes"]

    rss = feedparser.parse((root / "episodes" / "feed.xml").read_bytes())
    assert rss.bozo == 0, rss.get("bozo_exception")
    assert rss.version == "rss20" and rss.feed.title == feed["title"] and rss.feed.link == base
    assert [e.id for e in rss.entries] == ["2026-11-27", "2026-11-26"]
    [enclosure] = rss.entries[0].enclosures
    assert enclosure.href == newest["url"] and enclosure.type == "video/mp4"
    assert int(enclosure.length) == scorpius["files"]["video"]["bytes"]
    assert rss.entries[0].itunes_duration == "61" and rss.entries[0].image.href == newest["image"]
    assert not list((root / "episodes").glob(".*.tmp"))  # both written atomically


def test_feed_keeps_one_item_per_day_newest_first(tmp_path):
    root = storage_root(tmp_path)
    base = public_base_url("https://cdn.example.com/", root)
    for day, latin in (("2026-11-26", "Lyra"), ("2026-11-27", "Scorpius"), ("2026-11-26", "Lyra again")):
        feed = update_feeds(root, publish_fake_episode(root, day, latin), base)
    assert [i["title"] for i in feed["items"]] == ["星座 Scorpius · Scorpius的故事", "星座 Lyra again · Lyra again的故事"]
    assert feedparser.parse((root / "episodes" / "feed.xml").read_bytes()).bozo == 0


def test_without_a_public_url_the_feed_links_the_stored_files_themselves(tmp_path):
    root = storage_root(tmp_path / "storage")
    base = public_base_url("", root)
    assert base == (tmp_path / "storage").as_uri() + "/"
    feed = update_feeds(root, publish_fake_episode(root, "2026-11-27", "Scorpius"), base)
    assert json_feed_problems(feed) == []
    item = feed["items"][0]
    with urllib.request.urlopen(item["attachments"][0]["url"]) as video:  # the link opens the very file
        assert video.read() == (tmp_path / "storage" / "episodes" / "2026-11-27" / "episode.mp4").read_bytes()


def test_a_public_url_without_a_scheme_is_refused_with_the_fix(tmp_path):
    with pytest.raises(FeedConfigError, match="STARLOOM_PUBLIC_URL"):
        public_base_url("cdn.example.com/starloom", storage_root(tmp_path))


def test_items_from_an_older_feed_or_another_base_url_are_rebuilt_from_their_manifests(tmp_path):
    root = storage_root(tmp_path)
    publish_fake_episode(root, "2026-11-26", "Lyra")
    old_item = {"id": "2026-11-26", "url": str(root / "episodes/2026-11-26/episode.mp4"), "title": "Lyra",
                "date_published": "2026-11-26T18:00:00+08:00", "attachments": [{"url": "episode.mp4"}]}
    gone = {**old_item, "id": "2026-11-20"}  # its folder was deleted: dead links are not kept
    (root / "episodes" / "feed.json").write_text(json.dumps({"version": JSON_FEED_VERSION, "title": "t", "items": [old_item, gone]}))
    feed = update_feeds(root, publish_fake_episode(root, "2026-11-27", "Scorpius"), public_base_url("https://cdn.example.com/", root))
    assert [i["id"] for i in feed["items"]] == ["2026-11-27", "2026-11-26"]
    assert json_feed_problems(feed) == []
    assert feed["items"][1]["url"] == "https://cdn.example.com/episodes/2026-11-26/episode.mp4"
