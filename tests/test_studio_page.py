"""The studio page against a real uvicorn server on a storage where one day waits for a person and
another is published: the series list, the episode page's film, shots and forms, media with range
requests, a decision recorded from a form, and bad input refused clearly with nothing recorded lost."""

from __future__ import annotations

import http.client
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
import uvicorn

from assets_defs.approvals import decide, load_reviewed, read_decisions
from orchestration.studio.app import create_app
from orchestration.studio.media import parse_range
from orchestration.studio.pages import PageNotFound, find_page_episode
from starloom_core.net import free_port
from starloom_core.storage import storage_root
from tests.conftest import DAY, make_settings, run_episode_command

pytestmark = pytest.mark.slow
PUBLISHED = "2026-11-26"  # pinned too, so it is made with STARLOOM_APPROVAL=none: published at once
TOKEN = "stars-over-the-studio"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> Path:
    """DAY reviewed and waiting for a person; PUBLISHED made and published; scene 1 of DAY approved."""
    root = tmp_path_factory.mktemp("studio")
    waiting = run_episode_command(root, DAY, "important")
    assert waiting.exit_code == 3, waiting.output
    published = run_episode_command(root, PUBLISHED, "none")
    assert published.exit_code == 0, published.output
    decide(_settings(root / "storage"), storage_root(root / "storage"), DAY, False, "approve", "Ana", scene=1)
    return root / "storage"


def _settings(storage: Path, token: str = TOKEN):
    return make_settings(storage.parent, url=str(storage), approval="important", token=token)


@contextmanager
def _serving(settings):
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the studio page did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def studio(storage):
    with _serving(_settings(storage)) as url:
        yield url


class _Elements(HTMLParser):
    """Every start tag with its attributes: enough to check the page's contract."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def _decision_files(storage: Path) -> dict[str, bytes]:
    """What a bad request must leave alone: every decision and edit, byte for byte."""
    return {str(p.relative_to(storage)): p.read_bytes() for folder in ("approvals", "edits") for p in (storage / folder).rglob("*")
            if p.is_file()}


def test_the_series_lists_the_waiting_and_the_published_day(studio):
    page = requests.get(f"{studio}/", params={"around": DAY}, timeout=30)
    assert page.status_code == 200
    html = _Elements(page.text)
    assert html.find("table", id="days")
    rows = {a["data-episode"]: a["data-status"] for a in html.find("tr") if "data-episode" in a}
    assert rows[DAY] == "waiting" and rows[PUBLISHED] == "published"
    assert set(rows.values()) <= {"planned", "generating", "waiting", "published", "failed"}
    assert html.find("a", href=f"/episode/{DAY}") and "Scorpius" in page.text
    assert html.find("form", id="special", method="post", action="/special") and html.find("textarea", name="text")


def test_the_episode_page_shows_each_shot_and_its_forms_and_the_published_film(studio, storage):
    page = requests.get(f"{studio}/episode/{DAY}", timeout=30)
    assert page.status_code == 200
    html = _Elements(page.text)
    reviewed = load_reviewed(storage_root(storage), DAY)
    shots = {a["data-clip-key"]: a["src"] for a in html.find("video") if "shot" in a.get("class", "").split()}
    assert set(shots) == {c.clip.cache_key for c in reviewed.clips}
    assert all(src.startswith("/media/clips/") for src in shots.values())
    scenes = sorted({c.clip.scene for c in reviewed.clips})
    assert [a["data-scene"] for a in html.find("section") if "scene" in a.get("class", "")] == [str(s) for s in scenes]
    forms = [a for a in html.find("form", method="post", action=f"/episode/{DAY}/decide") if "decide" in a.get("class", "")]
    assert [f["data-scene"] for f in forms] == [str(s) for s in scenes]
    assert {a["value"] for a in html.find("button", name="choice")} == {"approve", "reject_new_seed", "revise"}
    assert html.find("input", name="instruction") and html.find("input", name="scene", type="hidden")
    assert html.find("form", id="approve-rest", action=f"/episode/{DAY}/decide")
    assert "approved" in page.text and "by Ana" in page.text  # scene 1, decided in the fixture
    # Before publishing, the film is the rough cut of the clips under review, served with ranges.
    [rough] = html.find("video", id="film")
    assert rough["src"].startswith(f"/media/approvals/{DAY}/rough-cut-") and rough["src"].endswith(".mp4")
    assert requests.get(studio + rough["src"], headers={"Range": "bytes=0-9"}, timeout=30).status_code == 206

    film = _Elements(requests.get(f"{studio}/episode/{PUBLISHED}", timeout=30).text)
    [landscape] = film.find("video", id="film")
    assert landscape["src"] == f"/media/episodes/{PUBLISHED}/episode.mp4" and "controls" in landscape
    assert film.find("video", id="film-vertical")
    assert film.find("track", kind="subtitles", src=f"/media/episodes/{PUBLISHED}/episode.zh.vtt")
    assert requests.get(studio + landscape["poster"], timeout=30).headers["content-type"] == "image/png"


def test_media_is_served_in_ranges_with_its_type(studio, storage):
    url = f"{studio}/media/episodes/{PUBLISHED}/episode.mp4"
    size = (storage / "episodes" / PUBLISHED / "episode.mp4").stat().st_size
    part = requests.get(url, headers={"Range": "bytes=0-99"}, timeout=30)
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-range"] == f"bytes 0-99/{size}" and part.headers["accept-ranges"] == "bytes"
    assert part.headers["content-type"] == "video/mp4"
    assert part.content == (storage / "episodes" / PUBLISHED / "episode.mp4").read_bytes()[:100]
    tail = requests.get(url, headers={"Range": "bytes=-10"}, timeout=30)
    assert tail.status_code == 206 and tail.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
    whole = requests.get(url, timeout=30)
    assert whole.status_code == 200 and len(whole.content) == size
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["content-length"] == str(size) and not head.content
    vtt = requests.get(f"{studio}/media/episodes/{PUBLISHED}/episode.en.vtt", timeout=30)
    assert vtt.headers["content-type"].startswith("text/vtt") and vtt.text.startswith("WEBVTT")


@pytest.mark.parametrize("header, size, expected", [
    ("bytes=0-99", 1000, (0, 99)), ("bytes=900-", 1000, (900, 999)), ("bytes=-100", 1000, (900, 999)),
    ("bytes=0-5000", 1000, (0, 999)), ("", 1000, None), ("bytes=0-1,5-9", 1000, None), ("items=0-1", 1000, None),
])
def test_a_range_header_is_read_as_rfc_9110_says(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2", "bytes=-0"])
def test_an_unsatisfiable_range_is_refused(header):
    with pytest.raises(ValueError):
        parse_range(header, 1000)


def test_episode_names_outside_the_series_or_malformed_are_not_found():
    assert find_page_episode(DAY, []) == (DAY, False)
    assert find_page_episode("special-94204750e5", ["Orion hunts"]) == ("Orion hunts", True)
    for bad in ("1999-01-01", "2026-13-40", "2026-1-1", "special-0000000000"):
        with pytest.raises(PageNotFound):
            find_page_episode(bad, [])


def test_an_approval_with_the_token_is_recorded_and_the_page_says_so(studio, storage):
    root = storage_root(storage)
    before = len(read_decisions(root, DAY))
    done = requests.post(f"{studio}/episode/{DAY}/decide", headers=AUTH, allow_redirects=False, timeout=60,
                         data={"scene": "2", "by": "Mei", "note": "the claws shine", "choice": "approve"})
    assert done.status_code == 303 and done.headers["location"].startswith(f"/episode/{DAY}?flash=")
    made = read_decisions(root, DAY)[before:]
    assert {(d.scene, d.action, d.by, d.note) for d in made} == {(2, "approve", "Mei", "the claws shine")}
    assert {d.clip_key for d in made} == {c.clip.cache_key for c in load_reviewed(root, DAY).clips if c.clip.scene == 2}
    shown = requests.get(studio + done.headers["location"], timeout=30)
    assert f"{DAY}: approved scene 2.1" in shown.text and 'value="Mei"' not in shown.text  # no cookie sent back here

    # The token form keeps the token in an HttpOnly cookie; the name is remembered for next time.
    browser = requests.Session()
    kept = browser.post(f"{studio}/token", data={"token": TOKEN, "back": f"/episode/{DAY}"}, allow_redirects=False, timeout=30)
    assert kept.status_code == 303 and kept.headers["location"].startswith(f"/episode/{DAY}?")
    assert re.search(r"starloom_token=.*HttpOnly.*SameSite=strict", kept.headers["set-cookie"], re.I)
    revised = browser.post(f"{studio}/episode/{DAY}/decide", data={"scene": "3", "by": "Mei", "choice": "revise",
                                                                    "instruction": "make the stars brighter"}, timeout=60)
    assert revised.status_code == 200 and "rejected scene 3.1" in revised.text and 'value="Mei"' in revised.text
    assert read_decisions(root, DAY)[-1].remedy == "revise"
    assert "make the stars brighter" in (storage / "edits" / f"{DAY}.json").read_text()


@dataclass(frozen=True)
class Bad:
    id: str
    method: str
    path: str
    expected: int
    message: str  # a regular expression the body must hold
    form: dict = field(default_factory=dict)
    headers: dict = field(default_factory=lambda: dict(AUTH))


DECIDE = f"/episode/{DAY}/decide"
BAD_REQUESTS = [
    Bad("unknown-date", "GET", "/episode/1999-01-01", 404, r"unknown episode 1999-01-01: the series runs from 2026-01-01"),
    Bad("malformed-date", "GET", "/episode/2026-13-40", 404, r"malformed episode name &#39;2026-13-40&#39;"),
    Bad("unknown-special", "GET", "/episode/special-0000000000", 404, r"unknown special &#39;special-0000000000&#39;"),
    Bad("decide-unknown-date", "POST", "/episode/1999-01-01/decide", 404, r"the series runs from", {"by": "Ana", "choice": "approve"}),
    Bad("decide-unreviewed-day", "POST", "/episode/2026-11-20/decide", 404, r"unknown episode 2026-11-20: it has no reviewed clips",
        {"by": "Ana", "choice": "approve"}),
    Bad("unknown-scene", "POST", DECIDE, 400, r"unknown scene 99: 2026-11-27 has scenes 1–", {"scene": "99", "by": "Ana", "choice": "approve"}),
    Bad("scene-not-a-number", "POST", DECIDE, 400, r"scene must be a number, got &#39;two&#39;", {"scene": "two", "by": "Ana", "choice": "approve"}),
    Bad("empty-name", "POST", DECIDE, 400, r"the name is empty", {"scene": "2", "by": "", "choice": "approve"}),
    Bad("blank-name", "POST", DECIDE, 400, r"the name is empty", {"scene": "2", "by": "   ", "choice": "approve"}),
    Bad("approve-twice", "POST", DECIDE, 409, r"scene 1 is already approved by Ana at", {"scene": "1", "by": "Bo", "choice": "approve"}),
    Bad("reject-without-remedy", "POST", DECIDE, 400, r"choice must be one of approve, reject_new_seed, revise",
        {"scene": "2", "by": "Ana", "choice": "reject"}),
    Bad("reject-without-scene", "POST", DECIDE, 400, r"a rejection names its scene", {"by": "Ana", "choice": "reject_new_seed"}),
    Bad("empty-revision", "POST", DECIDE, 400, r"scene 4: the revise instruction is empty",
        {"scene": "4", "by": "Ana", "choice": "revise", "instruction": "  "}),
    Bad("refused-revision", "POST", DECIDE, 400, r"massacre", {"scene": "4", "by": "Ana", "choice": "revise", "instruction": "show the massacre"}),
    Bad("missing-token", "POST", DECIDE, 401, r"this needs the review token", {"scene": "4", "by": "Ana", "choice": "approve"}, {}),
    Bad("wrong-token", "POST", DECIDE, 403, r"the review token is wrong", {"scene": "4", "by": "Ana", "choice": "approve"},
        {"Authorization": "Bearer stars-over-the-studio-not"}),
    Bad("wrong-token-form", "POST", "/token", 403, r"the review token is wrong", {"token": "guess"}, {}),
    Bad("special-empty", "POST", "/special", 400, r"a special needs a sentence to tell, got nothing", {"text": "   "}),
    Bad("special-no-myth", "POST", "/special", 400, r"names no constellation or myth in the catalog", {"text": "the weather is fine today"}),
    Bad("special-is-a-date", "POST", "/special", 400, r"is a date: use `starloom episode 2026-11-27`", {"text": "2026-11-27"}),
    Bad("special-missing-token", "POST", "/special", 401, r"this needs the review token", {"text": "Orion hunts"}, {}),
    Bad("media-climbs-out", "GET", "/media/clips/../../etc/passwd", 404, r"not a path under the storage root"),
    Bad("media-absolute", "GET", "/media//etc/passwd", 404, r"not a path under the storage root"),
    Bad("media-missing", "GET", "/media/clips/00/none.mp4", 404, r"no such file under the storage root: clips/00/none.mp4"),
    Bad("media-bad-range", "GET", f"/media/episodes/{PUBLISHED}/episode.mp4", 416, r"range not satisfiable",
        headers={"Range": "bytes=999999999-"}),
]


def _raw(url: str, bad: Bad) -> tuple[int, str]:
    """The request exactly as written (no client tidies `..` out of the path)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    body = urlencode(bad.form) if bad.method == "POST" else None
    headers = {**bad.headers, **({"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {})}
    connection.request(bad.method, bad.path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


@pytest.mark.parametrize("bad", BAD_REQUESTS, ids=[b.id for b in BAD_REQUESTS])
def test_bad_input_is_refused_clearly_and_loses_nothing(bad, studio, storage):
    before = _decision_files(storage)
    status, body = _raw(studio, bad)
    assert status == bad.expected, body[-1500:]
    assert re.search(bad.message, body), body[-1500:]
    assert _decision_files(storage) == before


def test_without_a_configured_token_the_page_is_read_only(storage):
    before = _decision_files(storage)
    with _serving(_settings(storage, token="")) as url:
        assert "read-only" in requests.get(f"{url}/episode/{DAY}", timeout=30).text
        refused = requests.post(f"{url}{DECIDE}", headers=AUTH, data={"scene": "4", "by": "Ana", "choice": "approve"}, timeout=30)
    assert refused.status_code == 403 and "set STARLOOM_REVIEW_TOKEN" in refused.text
    assert _decision_files(storage) == before


def test_a_day_with_a_run_in_flight_is_generating_and_one_whose_run_failed_is_failed(tmp_path, monkeypatch, storage):
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun

    from orchestration.studio import runs
    from orchestration.studio.pages import episode_status

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("")  # Dagster's defaults: SQLite in DAGSTER_HOME
    with dg.DagsterInstance.get() as instance:
        for day, status in [("2026-11-20", dg.DagsterRunStatus.FAILURE), ("2026-11-21", dg.DagsterRunStatus.SUCCESS),
                            ("2026-11-21", dg.DagsterRunStatus.STARTED), ("2026-11-22", dg.DagsterRunStatus.STARTING),
                            (DAY, dg.DagsterRunStatus.FAILURE)]:  # later runs are newer: the latest decides
            instance.add_run(DagsterRun(job_name="daily_episode_job", status=status, tags={"dagster/partition": day}))
    states = runs.run_states(["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", DAY])
    assert states == {"2026-11-20": "failed", "2026-11-21": "generating", "2026-11-22": "generating", DAY: "failed"}
    settings, root = _settings(storage), storage_root(storage)
    assert episode_status(settings, root, "2026-11-20", states["2026-11-20"])[0] == "failed"
    assert episode_status(settings, root, "2026-11-22", states["2026-11-22"])[0] == "generating"
    assert episode_status(settings, root, "2026-11-23", "")[0] == "planned"
    # A run that stopped for approval failed its blocking check; the day waits for a person, it is not broken.
    status, what = episode_status(settings, root, DAY, states[DAY])
    assert status == "waiting" and "pending" in what  # (earlier tests decided some scenes of the shared storage)


def test_the_page_reads_an_s3_storage_as_it_reads_a_folder(storage, s3_server, monkeypatch):
    import s3fs

    for name, value in s3_server.items():
        monkeypatch.setenv(name, value)
    fs = s3fs.S3FileSystem(endpoint_url=s3_server["AWS_ENDPOINT_URL"], key="starloom-test", secret="starloom-test")
    fs.put(str(storage), "starloom/studio-page", recursive=True)
    settings = make_settings(storage.parent, url="s3://starloom/studio-page", approval="important", token=TOKEN)
    with _serving(settings) as url:
        page = requests.get(f"{url}/episode/{DAY}", timeout=60)
        assert page.status_code == 200, page.text[-2000:]
        html = _Elements(page.text)
        shots = [a for a in html.find("video") if "shot" in a.get("class", "").split()]
        assert {a["data-clip-key"] for a in shots} == {c.clip.cache_key for c in load_reviewed(storage_root(storage), DAY).clips}
        # A clip seeks on S3 as on disk: the bytes of the range asked for, read from the bucket.
        src = shots[0]["src"]
        local = (storage / src.removeprefix("/media/")).read_bytes()
        part = requests.get(url + src, headers={"Range": "bytes=100-1099"}, timeout=60)
        assert part.status_code == 206 and part.content == local[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(local)}"
