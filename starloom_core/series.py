"""The series itself: when it starts, its timezone, and how a day or a special is named."""

from __future__ import annotations

import datetime as dt

SERIES_START = dt.date(2026, 1, 1)
SERIES_TIMEZONE = "Asia/Shanghai"


class PartitionDateError(ValueError):
    """An episode date that is malformed or outside the series."""


def today_in_series() -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(SERIES_TIMEZONE)).date()


def parse_episode_date(text: str) -> str:
    """A partition key from a user's date, with an error that says what is wrong."""
    if not text.strip():  # `starloom episode "$DAY"` with DAY unset must not quietly mean today
        raise PartitionDateError("episode date is empty (an unset shell variable?): give YYYY-MM-DD, or leave DATE out for today")
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise PartitionDateError(f"episode date must look like 2026-11-27 (YYYY-MM-DD), got {text!r}") from None
    if len(text.strip()) != 10:
        raise PartitionDateError(f"episode date must look like 2026-11-27 (YYYY-MM-DD), got {text!r}")
    last = today_in_series()
    if not SERIES_START <= day <= last:
        raise PartitionDateError(f"episode date {day} is outside the series ({SERIES_START} to {last}, today in {SERIES_TIMEZONE})")
    return day.isoformat()


# Specials (ad-hoc episodes) are keyed by the producer's own sentence: the key is what the UI's
# "Add partition" box and `starloom special` both take, so a special needs no other input.
SPECIAL_PREFIX = "special-"
MAX_SPECIAL_CHARS = 400


def is_daily_key(key: str) -> bool:
    try:
        dt.date.fromisoformat(key)
    except ValueError:
        return False
    return len(key) == 10


def episode_id(key: str) -> str:
    """The episode's name in storage and lineage: the date for a day of the series, a short content
    hash for a special (whose key is free text, unfit for paths)."""
    if is_daily_key(key):
        return key
    import hashlib

    return SPECIAL_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:10]


def check_special_text(text: str) -> str:
    """The special's sentence as a partition key, or an error saying what is wrong with it."""
    cleaned = " ".join(text.split())
    if not cleaned:
        raise PartitionDateError("a special needs a sentence to tell, got nothing")
    if len(cleaned) > MAX_SPECIAL_CHARS:
        raise PartitionDateError(f"a special's sentence is {len(cleaned)} characters; keep it under {MAX_SPECIAL_CHARS}")
    if is_daily_key(cleaned):
        raise PartitionDateError(f"{cleaned!r} is a date: use `starloom episode {cleaned}` for a day of the series")
    if "..." in cleaned:  # Dagster reserves "..." in partition keys (ranges); the CJK ellipsis is fine
        cleaned = cleaned.replace("...", "…")
    return cleaned


class UnknownSpecialError(LookupError):
    """A special's id or sentence that names no special there is."""


def find_episode(text: str, specials) -> tuple[str, bool]:
    """(partition key, is it a special) from what a person typed or a link holds: a date, a special's
    id as lineage and the studio page name it ("special-1a2b3c4d5e"), or the special's sentence
    itself, looked up among `specials` (their partition keys). A malformed date is a
    PartitionDateError, an unknown special an UnknownSpecialError; both say what is wrong."""
    wanted = text.strip()
    if not (wanted.startswith(SPECIAL_PREFIX) or (wanted and not wanted[:4].isdigit())):
        return parse_episode_date(text), False
    keys = list(specials)
    for key in keys:
        if wanted in (key, episode_id(key)):
            return key, True
    raise UnknownSpecialError(f"unknown special {wanted!r}: {len(keys)} special(s) exist; `starloom review` lists those that wait")
