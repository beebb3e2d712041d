"""Manifest, feed and the signed webhook, against a real local HTTP receiver."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from assets_defs.publishing import SIGNATURE_HEADER, deliver_webhook, file_entries, manifest_mismatches, update_feed
from starloom_core.storage import storage_root

SECRET = "s3cret-for-tests"


class Receiver:
    """Answers with the next status from `script` (then 200), verifying each signature."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.received, self.valid = list(statuses), [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                outer.valid.append(hmac.compare_digest(expected, self.headers[SIGNATURE_HEADER]))
                outer.received.append(json.loads(body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver_factory():
    made = []
    yield lambda statuses=(): made.append(Receiver(list(statuses))) or made[-1]
    for receiver in made:
        receiver.close()


def test_webhook_is_signed_and_retried_with_backoff(receiver_factory):
    receiver = receiver_factory([500, 503])
    waits = []
    delivery = deliver_webhook(receiver.url, {"date": "2026-11-27"}, SECRET, attempts=4, backoff_s=0.5, sleep=waits.append)
    assert delivery.delivered and delivery.attempts == 3 and delivery.status == 200
    assert waits == [0.5, 1.0]  # exponential backoff
    assert receiver.valid == [True, True, True] and receiver.received[-1] == {"date": "2026-11-27"}


def test_webhook_refused_or_unreachable_is_reported_not_raised(receiver_factory):
    refused = deliver_webhook(receiver_factory([401]).url, {}, SECRET, sleep=lambda _: None)
    assert not refused.delivered and refused.attempts == 1 and refused.status == 401
    gone = deliver_webhook("http://127.0.0.1:9/hook", {}, SECRET, attempts=2, backoff_s=0, sleep=lambda _: None)
    assert not gone.delivered and gone.attempts == 2 and len(gone.errors) == 2
    assert SECRET not in " ".join(gone.errors + refused.errors)


def test_a_wrong_secret_fails_verification(receiver_factory):
    receiver = receiver_factory()
    deliver_webhook(receiver.url, {"x": 1}, "another secret", sleep=lambda _: None)
    assert receiver.valid == [False]


def test_manifest_hashes_catch_a_changed_file(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"film")
    manifest = {"files": file_entries({"video": tmp_path / "a.mp4"})}
    assert manifest["files"]["video"] == {"name": "a.mp4", "bytes": 4, "sha256": hashlib.sha256(b"film").hexdigest()}
    assert manifest_mismatches(manifest, storage_root(tmp_path)) == []
    (tmp_path / "a.mp4").write_bytes(b"edited")
    assert manifest_mismatches(manifest, storage_root(tmp_path)) == ["video: a.mp4 does not match its SHA-256"]


def test_feed_keeps_one_item_per_day_newest_first(tmp_path):
    feed_path = storage_root(tmp_path) / "episodes" / "feed.json"
    for day, title in (("2026-11-26", "Lyra"), ("2026-11-27", "Scorpius"), ("2026-11-26", "Lyra, again")):
        feed = update_feed(feed_path, {"id": day, "title": title, "date_published": f"{day}T18:00:00+08:00"})
    assert [i["title"] for i in feed["items"]] == ["Scorpius", "Lyra, again"]
    assert json.loads(feed_path.read_text())["version"] == "https://jsonfeed.org/version/1.1"
