"""The LLM client records every call (tokens, cost or None, latency, hashes of request and
response), retries transient provider errors with exponential backoff, reports other errors as
one line, and imports litellm without fetching anything."""

import hashlib
import os

import pytest

from agent.llm import LLMClient, _cost, import_litellm
from replay.errors import SpeedrunError

import agent_policies

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Track `toy`, task 1: hello there"}]


def test_scripted_call_is_accounted():
    client = LLMClient("scripted/agent_policies:flaky", sleep=lambda s: None)
    agent_policies.FLAKY_CALLS[:] = [1, 1]  # past its failures
    reply = client.complete(MESSAGES)
    call = reply.call
    assert reply.text == "ok" and call.attempts == 1 and call.retried_errors == ()
    assert call.prompt_tokens == sum(len(m["content"].split()) for m in MESSAGES) and call.completion_tokens == 1
    assert call.cost_usd is None  # scripted models are unpriced
    assert call.response_sha256 == hashlib.sha256(b"ok").hexdigest()
    assert call.latency_s >= 0
    again = client.complete(MESSAGES).call
    other = client.complete(MESSAGES[:1] + [{"role": "user", "content": "something else"}]).call
    assert again.request_sha256 == call.request_sha256 != other.request_sha256
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


def test_transient_errors_are_retried_with_backoff():
    waits = []
    agent_policies.FLAKY_CALLS.clear()
    reply = LLMClient("scripted/agent_policies:flaky", sleep=waits.append, backoff_s=1.5, jitter=0).complete(MESSAGES)
    call = reply.call
    assert reply.text == "ok" and call.attempts == 3 and waits == [1.5, 3.0]
    waits.clear()
    agent_policies.FLAKY_CALLS.clear()
    LLMClient("scripted/agent_policies:flaky", sleep=waits.append, backoff_s=1.5).complete(MESSAGES)
    assert 1.5 * 0.75 <= waits[0] <= 1.5 * 1.25 and 3.0 * 0.75 <= waits[1] <= 3.0 * 1.25  # jittered
    assert len(call.retried_errors) == 2 and all(e.startswith("RateLimitError") for e in call.retried_errors)
    agent_policies.FLAKY_CALLS.clear()
    with pytest.raises(SpeedrunError, match="RateLimitError"):
        LLMClient("scripted/agent_policies:flaky", sleep=waits.append, max_retries=1).complete(MESSAGES)


def test_other_errors_fail_at_once_as_one_line():
    waits = []
    with pytest.raises(SpeedrunError, match=r"^model scripted/agent_policies:refuses: AuthenticationError") as info:
        LLMClient("scripted/agent_policies:refuses", sleep=waits.append).complete(MESSAGES)
    assert waits == [] and "\n" not in str(info.value)


def test_priced_models_get_a_cost():
    litellm = import_litellm()
    response = litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="a reply")
    cost = _cost(litellm, response, "openai/gpt-4o-mini")
    assert cost is not None and cost > 0


def test_local_openai_compatible_server(monkeypatch):
    """--api-base reaches a local server through litellm's OpenAI client; its model is unpriced."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            body = json.dumps(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "local-model",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "from the local server"},
                        }
                    ],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_API_KEY", "unused-by-the-local-server")
    try:
        client = LLMClient("openai/local-model", api_base=f"http://127.0.0.1:{server.server_port}/v1")
        client.check_environment()
        reply = client.complete(MESSAGES)
    finally:
        server.shutdown()
    assert reply.text == "from the local server"
    assert (reply.call.prompt_tokens, reply.call.completion_tokens) == (11, 4)
    assert reply.call.cost_usd is None
    assert seen[0][0].endswith("/chat/completions") and seen[0][1]["messages"] == MESSAGES


def test_missing_key_fails_before_any_call(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(SpeedrunError, match="needs ANTHROPIC_API_KEY in the environment"):
        LLMClient("anthropic/claude-sonnet-4-5").check_environment()
