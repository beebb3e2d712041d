"""The optional chat script writer against a small local server that speaks the OpenAI chat protocol."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assets_defs.catalog import load_catalog
from assets_defs.pick import load_calendar
from assets_defs.script import write_script
from assets_defs.writers import ChatWriter
from tests.conftest import TEST_DATA

DAY = dt.date(2026, 11, 27)  # pinned to Scorpius in the test data
GOOD = {"scenes": [
    {"zh": "很久以前，猎人俄里翁夸下海口。", "en": "Long ago, the hunter Orion made a boastful vow.",
     "visual": "a towering hunter on a moonlit hill raising his club towards the stars",
     "visual_zh": "高大的猎人站在月光下的山丘上，向群星举起木棒"},
    {"zh": "大地女神派出了一只巨大的蝎子。", "en": "The earth goddess sent out a giant scorpion.",
     "visual": "a giant scorpion crawling out of glowing sand under a deep blue starry sky",
     "visual_zh": "巨大的蝎子在深蓝色星空下从发光的沙土中爬出"},
    {"zh": "从此，蝎子与猎人永不同天。", "en": "Since then, the scorpion and the hunter never share the sky.",
     "visual": "the scorpion of stars rising in the east as the hunter sets in the west",
     "visual_zh": "星星组成的蝎子从东方升起，猎人在西方落下"},
]}


class ChatServer:
    """Answers POST /v1/chat/completions with whatever the test sets; records what it was asked."""

    def __init__(self):
        self.status, self.content, self.requests = 200, json.dumps(GOOD, ensure_ascii=False), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                payload = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"], "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": server.content}, "finish_reason": "stop"}]}).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def chat():
    server = ChatServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(TEST_DATA)


def test_a_valid_chat_script_is_used_and_the_request_speaks_the_protocol(chat, catalog):
    script = write_script(catalog, DAY, load_calendar(TEST_DATA), ChatWriter(chat.url, "qwen-test", "sk-local"))
    assert script.writer == "chat:qwen-test" and script.writer_note == ""
    assert [s.narration_zh for s in script.scenes[:-1]] == [s["zh"] for s in GOOD["scenes"]]
    assert script.scenes[-1].shot == "tonight"  # the closing scene is always the program's own
    assert script.scenes[0].focus == catalog.beats_of("Sco").iloc[0].focus  # focus stars follow the catalog
    [asked] = chat.requests
    assert asked["path"] == "/v1/chat/completions" and asked["auth"] == "Bearer sk-local"
    assert asked["body"]["model"] == "qwen-test" and asked["body"]["messages"][0]["role"] == "system"
    brief = json.loads(asked["body"]["messages"][1]["content"])
    assert brief["title_en"] == catalog.story("Sco").title_en and len(brief["beats"]) == len(catalog.beats_of("Sco"))


@pytest.mark.parametrize("status, content, reason", [
    (200, "Here is your script: scenes one two three", "does not fit the schema"),
    (200, json.dumps({"scenes": GOOD["scenes"][:2]}), "scenes: List should have at least 3 items"),
    (200, json.dumps({"scenes": [{**GOOD["scenes"][0], "zh": "太短"}] * 3}), "scenes.0.zh"),
    (500, "{}", "answered HTTP 500"),
])
def test_a_bad_answer_falls_back_to_the_catalog_beats_and_says_why(chat, catalog, status, content, reason):
    chat.status, chat.content = status, content
    script = write_script(catalog, DAY, load_calendar(TEST_DATA), ChatWriter(chat.url, "qwen-test"))
    assert script.writer == "default" and reason in script.writer_note
    assert [s.narration_zh for s in script.scenes[:-1]] == list(catalog.beats_of("Sco").zh)


def test_an_unreachable_writer_falls_back_too(catalog):
    script = write_script(catalog, DAY, load_calendar(TEST_DATA), ChatWriter("http://127.0.0.1:9/v1", "m", timeout_s=2))
    assert script.writer == "default" and "did not answer usefully" in script.writer_note


def test_fenced_json_is_accepted(chat):
    chat.content = "```json\n" + json.dumps(GOOD, ensure_ascii=False) + "\n```"
    assert len(ChatWriter(chat.url, "m").draft({"title_en": "x"}).scenes) == 3


def test_an_edit_is_revised_by_the_chat_writer_when_configured_and_by_the_rules_when_it_fails(chat):
    from assets_defs.edits import load_edit_rules, rewrite_with

    rules = load_edit_rules(TEST_DATA)
    chat.content = json.dumps({"adds": "the lightning much brighter, crackling white-blue across the clouds"})
    revised = rewrite_with(ChatWriter(chat.url, "qwen-test"), "a storm over the sea", "make the lightning brighter", 2, rules)
    assert revised.rule == "chat:qwen-test" and "crackling white-blue" in revised.adds
    assert json.loads(chat.requests[-1]["body"]["messages"][1]["content"]) == {
        "shot": "a storm over the sea", "instruction": "make the lightning brighter"}
    chat.content = json.dumps({"adds": ""})  # fails the schema: the rules take over
    fallback = rewrite_with(ChatWriter(chat.url, "qwen-test"), "a storm", "make the lightning brighter", 2, rules)
    assert fallback.rule == "brighter" and fallback.adds.startswith("lightning much brighter")
