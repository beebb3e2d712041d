"""The one webhook client: Standard Webhooks signatures, declared retries, a report instead of a raise.

The completion webhook (`final_episode`) and the failure notice (`episode_failure_sensor`) both send
through `WebhookClient`, so receivers verify and de-duplicate every message the same way.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import stamina
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
# Deprecated: kept for one release so receivers can move to the Standard Webhooks headers.
LEGACY_SIGNATURE_HEADER = "X-Starloom-Signature"  # "sha256=<hex HMAC-SHA256 of the body>"
RETRIED_STATUSES = frozenset({408, 429})  # and every 5xx


class WebhookConfigError(ValueError):
    """The webhook URL or secret cannot be used; the message says which and how to fix it."""


def signing_key(secret: str) -> bytes:
    """The HMAC key a studio's secret stands for.

    A `whsec_…` secret (what Standard Webhooks tools generate) is base64 after the prefix and is
    used decoded, so such a secret works unchanged in any Standard Webhooks receiver. Any other
    secret is a plain passphrase and its UTF-8 bytes are the key; as a `whsec_` secret it reads
    `"whsec_" + base64(secret)`, and a receiver may also pass the bytes themselves
    (`standardwebhooks.Webhook(secret.encode())`). No guessing: only the prefix decides."""
    if not secret:
        raise WebhookConfigError("the webhook secret is empty: set STARLOOM_WEBHOOK_SECRET (a passphrase, "
                                 "or a whsec_… secret) so receivers can tell our messages from forgeries")
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    encoded = secret[len(SECRET_PREFIX):].rstrip("=")
    try:  # strict, unlike the library's own decoding, so a mangled secret is an error here and not a wrong key
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise WebhookConfigError("the webhook secret starts with whsec_ but the rest is not base64; "
                                 "use the secret exactly as generated, or a plain passphrase without the prefix") from None
    if not key:
        raise WebhookConfigError("the webhook secret is 'whsec_' with nothing after it")
    return key


def legacy_signature(body: bytes, key: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class ReceiverAnswered(Exception):
    """The receiver answered with an HTTP error status (and perhaps asked us to wait)."""

    def __init__(self, status: int, retry_after: float | None):
        super().__init__(f"HTTP {status}" + (f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""))
        self.status, self.retry_after = status, retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Delivery:
    delivered: bool
    attempts: int
    status: int | None = None
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WebhookClient:
    """POSTs JSON to one receiver, signed with `webhook-id`, `webhook-timestamp` and `webhook-signature`
    (Standard Webhooks v1) plus the deprecated `X-Starloom-Signature`.

    Retried, with jittered exponential backoff (backoff_s, 2x, 4x… plus up to backoff_s of jitter,
    each wait at most wait_max_s): 408, 429, every 5xx, and connection errors and timeouts. A
    Retry-After on those is honoured as the wait; one longer than wait_max_s ends the delivery
    instead, since we would not wait that long. Any other 4xx is final at once: the receiver
    refused the message and sending it again would not change its mind. At most `attempts` tries,
    each at most timeout_s, so a delivery ends within attempts × (timeout_s + wait_max_s)."""

    url: str
    key: bytes = field(repr=False)
    attempts: int = 4
    backoff_s: float = 0.5
    wait_max_s: float = 30.0
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, url: str, secret: str, attempts: int = 4, backoff_s: float = 0.5) -> "WebhookClient":
        """Checks the URL and secret now, before any work that would be announced, and says how to fix them."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise WebhookConfigError(f"webhook URL {url!r} is not an http(s) URL: set STARLOOM_WEBHOOK_URL to "
                                     "something like https://hooks.example.com/starloom")
        if attempts < 1:
            raise WebhookConfigError(f"webhook attempts must be at least 1, got {attempts}")
        return cls(url, signing_key(secret), attempts=attempts, backoff_s=backoff_s)

    def headers(self, message_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
        """Signed headers for one attempt: the timestamp is the attempt's own, so a receiver can reject
        a replay older than its tolerance (five minutes in the standardwebhooks library)."""
        now = now or datetime.now(timezone.utc)
        return {
            "Content-Type": "application/json", "User-Agent": "starloom",
            "webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(self.key).sign(message_id, now, body.decode()),
            LEGACY_SIGNATURE_HEADER: legacy_signature(body, self.key),
        }

    def deliver(self, payload: dict, message_id: str | None = None) -> Delivery:
        """Send `payload`; every attempt carries the same `message_id` (receivers de-duplicate on it).
        Pass an id that names the event (a cut, a run) so a later re-send is recognised too.
        Never raises for the receiver's answers or the network, and never logs the secret."""
        message_id = message_id or f"msg_{uuid.uuid4().hex}"
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        errors: list[str] = []
        tries = 0
        try:
            for attempt in stamina.retry_context(on=self._wait_before_retry, attempts=self.attempts, timeout=None,
                                                 wait_initial=self.backoff_s, wait_max=self.wait_max_s,
                                                 wait_jitter=self.backoff_s):
                with attempt:
                    tries = attempt.num
                    try:
                        return Delivery(True, tries, self._post(body, message_id), errors)
                    except (ReceiverAnswered, OSError, http.client.HTTPException) as error:
                        errors.append(f"attempt {tries}: {_describe(error)}")
                        raise
        except ReceiverAnswered as final:
            return Delivery(False, tries, final.status, errors)
        except (OSError, http.client.HTTPException):
            return Delivery(False, tries, None, errors)
        raise AssertionError("unreachable: stamina either returned a delivery or raised the last error")

    def _post(self, body: bytes, message_id: str) -> int:
        request = urllib.request.Request(self.url, data=body, headers=self.headers(message_id, body))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status
        except urllib.error.HTTPError as error:
            with error:  # close the answer's socket; only its status and Retry-After matter
                raise ReceiverAnswered(error.code, retry_after_seconds(error.headers.get("Retry-After"))) from None

    def _wait_before_retry(self, error: Exception) -> bool | float:
        """stamina's hook: False ends the delivery, True backs off, a number is the wait the receiver asked for."""
        if isinstance(error, ReceiverAnswered):
            if error.status not in RETRIED_STATUSES and error.status < 500:
                return False
            if error.retry_after is not None:
                return error.retry_after if error.retry_after <= self.wait_max_s else False
            return True
        return isinstance(error, (OSError, http.client.HTTPException))


def _describe(error: Exception) -> str:
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__
