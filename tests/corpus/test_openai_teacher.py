"""The OpenAI-compatible teacher against a real HTTP server on 127.0.0.1: retries, auth, cache."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.corpus.build import build_corpus, read_corpus
from core.corpus.openai_teacher import OpenAICompatibleTeacher
from core.errors import SidLensError

KEY = "sk-test-secret-123"


class FakeChatServer(ThreadingHTTPServer):
    """Counts calls; answers `fail` queued statuses first, then 200 with a chat completion."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.calls, self.auth, self.paths, self.fail = 0, [], [], []
        self.reply = lambda messages: "Fluent: " + messages[-1]["content"].split("\n\n", 1)[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeChatServer

    def do_POST(self):
        server = self.server
        server.calls += 1
        server.auth.append(self.headers.get("Authorization"))
        server.paths.append(self.path)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = server.fail.pop(0) if server.fail else 200
        payload = {"choices": [{"message": {"role": "assistant", "content": server.reply(body["messages"])}}]}
        data = json.dumps(payload if status == 200 else {"error": "busy"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = FakeChatServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("SIDLENS_TEACHER_API_KEY", KEY)


def _teacher(url, store, **kw):
    return OpenAICompatibleTeacher(url, "test-model", store=store, backoff_s=0.01, **kw)


def test_retries_a_500_then_caches_so_rerun_sends_nothing(server, api_key, store, tiny_context):
    server.fail = [500]
    text = _teacher(server.url, store).item_narrative("3", tiny_context)
    assert server.calls == 2 and server.paths == ["/v1/chat/completions"] * 2
    assert server.auth == [f"Bearer {KEY}"] * 2
    assert text.startswith("Fluent: ") and tiny_context.sid("3") in text
    again = _teacher(server.url + "/v1/", store).item_narrative("3", tiny_context)
    assert again == text and server.calls == 2
    rows = store.rows("teacher_cache")
    assert len(rows) == 1 and rows[0]["model"] == "test-model" and rows[0]["response"] == text
    assert KEY not in json.dumps(rows)


def test_item_narrative_without_sid_gets_it_prepended(server, api_key, store, tiny_context):
    server.reply = lambda messages: "A fine film."
    assert _teacher(server.url, store).item_narrative("5", tiny_context) == f"{tiny_context.sid('5')} A fine film."


def test_missing_key_is_a_one_line_error(server, monkeypatch, store):
    monkeypatch.delenv("SIDLENS_TEACHER_API_KEY", raising=False)
    with pytest.raises(SidLensError, match="SIDLENS_TEACHER_API_KEY") as err:
        _teacher(server.url, store)
    assert "\n" not in str(err.value) and server.calls == 0


def test_gives_up_after_bounded_attempts_and_fails_fast_on_401(server, api_key, store):
    server.fail = [503] * 10
    with pytest.raises(SidLensError, match="after 3 attempts: HTTP 503"):
        _teacher(server.url, store, max_attempts=3).complete([{"role": "user", "content": "x\n\ny"}])
    assert server.calls == 3
    server.fail = [401]
    with pytest.raises(SidLensError, match="HTTP 401"):
        _teacher(server.url, store, max_attempts=3).complete([{"role": "user", "content": "x\n\nz"}])
    assert server.calls == 4 and store.rows("teacher_cache") == []


def test_connection_errors_are_retried_then_reported(api_key, store):
    with socket.socket() as sock:          # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    teacher = _teacher(f"http://127.0.0.1:{port}", store, max_attempts=2)
    with pytest.raises(SidLensError, match="cannot reach"):
        teacher.complete([{"role": "user", "content": "x\n\ny"}])
    assert teacher.requests_sent == 2


def test_corpus_built_with_openai_teacher_twice_calls_server_once_per_text(server, api_key, tiny_dataset, tiny_sidmap):
    def build():
        return build_corpus(tiny_dataset.name, "openai", weights={1: 0, 2: 0, 3: 0, 4: 0}, max_examples=12,
                            base_url=server.url, model="test-model", dataset=tiny_dataset, sidmap=tiny_sidmap,
                            progress=False)
    report = build()
    calls = server.calls
    assert report.teacher == "openai" and 0 < calls <= 12
    assert all(r["completion"][0]["content"].startswith(("Fluent: ", "<a_")) for r in read_corpus(tiny_dataset.name))
    build()
    assert server.calls == calls
