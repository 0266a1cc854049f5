"""A local OpenAI-compatible chat completions server for tests and benchmarks (stdlib only).

It answers POST /v1/chat/completions the way a judge model would, following the output contract
the prompt asks for (a 1-8 score line, JSON with a 1-9 score, or [[A]]/[[B]]/[[C]]), for one
criterion or for several judged together (one `criterion: value` line or JSON member each). Its
opinion is planted so tests can check the pipeline end to end: the longer answer wins; when both
have the same length the one shown first wins in `position_bias` of the cases (a position bias to
detect).

Faults are injectable: latency, rate limits (429 with Retry-After, over a window of `window_s`
seconds, a minute by default), a share of 5xx, a share of garbage answers, a hang mode, a
required API key and token counts denser than characters / 4. Every decision is a pure function
of the seed, the request body and how many times that same body was seen, so a retried request
can succeed after a 5xx and a run is reproducible. GET /stats returns call counts as JSON,
including `early_retries`: requests sent again before the Retry-After they were given had passed.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER_RE = re.compile(r"<<<ANSWER (\d)>>>\n(.*?)\n<<<END OF ANSWER \1>>>", re.DOTALL)
# The criteria list of a joint prompt (judges.templates.JOINT_HEADER and its "- key: ..." lines).
JOINT_RE = re.compile(r"^Criteria, each to be judged on its own:\n((?:- [\w-]+: .*\n)+)", re.M)
JOINT_KEY_RE = re.compile(r"^- ([\w-]+): ", re.M)


@dataclass
class StubConfig:
    latency_ms: int = 0
    rpm: int = 0  # 0 = unlimited
    tpm: int = 0
    error_rate: float = 0.0  # share of first attempts answered with a 5xx
    garbage_rate: float = 0.0  # share of requests answered with unparseable text
    hang: bool = False
    api_key: str | None = None
    position_bias: float = 0.7
    seed: int = 0
    window_s: float = 60.0  # the rate limits count requests and tokens over this window
    chars_per_token: float = 4.0  # lower: more tokens than a characters / 4 estimate expects


def count_tokens(text: str, chars_per_token: float = 4.0) -> int:
    return int(len(text) / chars_per_token)


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_hash: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    # (time, tokens) of accepted requests in the last window, for the rate limits.
    window: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)
    # When each request hash told to wait may come back, and how many came back sooner.
    not_before: dict[str, float] = field(default_factory=dict)
    early_retries: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": sum(self.by_hash.values()),
                "unique": len(self.by_hash),
                "by_hash": dict(self.by_hash),
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "early_retries": self.early_retries,
            }


def _decide_winner(
    answer_1: str, answer_2: str, rng: random.Random, bias: float
) -> tuple[int, int]:
    """(winner 1|2|0 for tie, strength 1..4) under the planted rule: longer wins, else position."""
    len_1, len_2 = len(answer_1), len(answer_2)
    if len_1 == len_2:
        return (1 if rng.random() < bias else 2), 1
    longer, shorter = max(len_1, len_2), max(1, min(len_1, len_2))
    ratio = longer / shorter
    strength = 1 if ratio < 1.2 else 2 if ratio < 1.6 else 3 if ratio < 2.5 else 4
    return (1 if len_1 > len_2 else 2), strength


def _values(winner: int, strength: int, prompt: str) -> tuple[str, Any]:
    """(contract, value) of one verdict in the contract the prompt asks for."""
    if "[[C]]" in prompt:
        return "verdict", f"[[{'A' if winner == 1 else 'B'}]]"
    if '"score"' in prompt:
        return "json", 5 - strength if winner == 1 else 5 + strength
    return "score", 5 - strength if winner == 1 else 4 + strength


def _answer_text(prompt: str, rng: random.Random, bias: float) -> str:
    answers = {int(n): text for n, text in ANSWER_RE.findall(prompt)}
    if 1 not in answers or 2 not in answers:
        return "I could not find two answers to compare in your message."
    joint = JOINT_RE.search(prompt)
    if joint:
        return _joint_answer_text(JOINT_KEY_RE.findall(joint.group(1)), answers, prompt, rng, bias)
    winner, strength = _decide_winner(answers[1], answers[2], rng, bias)
    why = f"Assistant {winner} gives the fuller answer."
    contract, value = _values(winner, strength, prompt)
    if contract == "verdict":
        return f"Both answers address the question. {why}\n\n{value}"
    if contract == "json":
        return json.dumps({"reason": why, "score": value})
    return f"{value}\n{why}"


def _joint_answer_text(
    keys: list[str], answers: dict[int, str], prompt: str, rng: random.Random, bias: float
) -> str:
    """One verdict per criterion, each decided on its own (its own draw on equal lengths)."""
    verdicts = {key: _decide_winner(answers[1], answers[2], rng, bias) for key in keys}
    values = {
        key: _values(winner, strength, prompt) for key, (winner, strength) in verdicts.items()
    }
    why = {
        key: f"On {key}, Assistant {winner} does better." for key, (winner, _) in verdicts.items()
    }
    if any(contract == "json" for contract, _ in values.values()):
        return json.dumps(
            {key: {"reason": why[key], "score": value} for key, (_, value) in values.items()}
        )
    lines = [f"{key}: {value}" for key, (_, value) in values.items()]
    if any(contract == "verdict" for contract, _ in values.values()):
        return " ".join(why.values()) + "\n\n" + "\n".join(lines)
    return "\n".join(lines) + "\n" + " ".join(why.values())


GARBAGE = [
    "I'm sorry, but I can't help with comparing these answers.",
    "Both answers have merits and drawbacks; it depends on the reader.",
    "```\nERROR: output truncated\n```",
]


class _Handler(BaseHTTPRequestHandler):
    server: StubHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        # Counted before the answer leaves, so a client that has its answer sees it counted.
        with self.server.state.lock:
            self.server.state.statuses[status] += 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(
        self, status: int, message: str, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": None}}, headers)

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/stats":
            self._error(404, "not found", "not_found")
            return
        self._send(200, self.server.state.snapshot())

    def do_POST(self) -> None:
        config, state = self.server.config, self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, "not found", "not_found")
            return
        authorization = self.headers.get("Authorization", "")
        if config.api_key is not None and authorization != f"Bearer {config.api_key}":
            self._error(401, "Incorrect API key provided.", "invalid_request_error")
            return
        try:
            body = json.loads(raw)
            messages = body["messages"]
            prompt = "\n".join(str(m.get("content", "")) for m in messages)
        except (ValueError, KeyError, TypeError, AttributeError):
            self._error(400, "the body must be JSON with a messages list", "invalid_request_error")
            return
        digest = request_hash(body)
        prompt_tokens = count_tokens(prompt, config.chars_per_token)
        max_tokens = int(body.get("max_tokens") or 0)
        with state.lock:
            now = time.monotonic()
            if now < state.not_before.pop(digest, 0.0):
                state.early_retries += 1
            retry_after = self._rate_limited(prompt_tokens + max_tokens)
            if retry_after is None:
                state.by_hash[digest] += 1
                seen = state.by_hash[digest]
            else:
                state.not_before[digest] = now + retry_after
        if retry_after is not None:
            self._error(
                429, "Rate limit reached.", "rate_limit_exceeded", {"Retry-After": str(retry_after)}
            )
            return
        if config.hang:
            state.stopping.wait()
            return
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        rng = random.Random(f"{config.seed}:{digest}:{seen}")
        # Faults hit first attempts only, so a client that retries always gets through.
        if seen == 1 and rng.random() < config.error_rate:
            self._error(503, "The server is overloaded.", "server_error")
            return
        answer_rng = random.Random(f"{config.seed}:{digest}")
        if answer_rng.random() < config.garbage_rate:
            text = answer_rng.choice(GARBAGE)
        else:
            text = _answer_text(prompt, answer_rng, config.position_bias)
        completion_tokens = count_tokens(text, config.chars_per_token)
        if max_tokens:
            # A real server stops there (and so bills no more); the text is short anyway.
            completion_tokens = min(completion_tokens, max_tokens)
        self._send(
            200,
            {
                "id": f"chatcmpl-{digest[:24]}-{seen}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "stub"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )

    def _rate_limited(self, tokens: int) -> int | None:
        """Seconds to wait if this request would pass a per-minute limit, else None (and record it).

        Called under the state lock.
        """
        config, window = self.server.config, self.server.state.window
        now = time.monotonic()
        while window and window[0][0] <= now - config.window_s:
            window.popleft()
        over_requests = config.rpm and len(window) + 1 > config.rpm
        over_tokens = config.tpm and sum(t for _, t in window) + tokens > config.tpm and window
        if over_requests or over_tokens:
            return max(1, math.ceil(window[0][0] + config.window_s - now))
        window.append((now, tokens))
        return None


class StubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout, a killed worker) is not the server's error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], config: StubConfig) -> None:
        super().__init__(address, _Handler)
        self.config = config
        self.state = _State()
        self.server_name_ip = address[0]


class OpenAIStub:
    """Runs the stub in a background thread: `with OpenAIStub(StubConfig()) as stub: stub.url`."""

    def __init__(self, config: StubConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config or StubConfig()
        self.server = StubHTTPServer((host, port), self.config)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.server.server_name_ip}:{self.server.server_port}/v1"

    def start(self) -> OpenAIStub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.state.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def stats(self) -> dict[str, Any]:
        return self.server.state.snapshot()

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--rpm", type=int, default=0, help="requests per minute (0 = no limit)")
    parser.add_argument("--tpm", type=int, default=0, help="tokens per minute (0 = no limit)")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of 5xx answers")
    parser.add_argument("--garbage-rate", type=float, default=0.0, help="share of garbage answers")
    parser.add_argument("--hang", action="store_true", help="accept requests, never answer")
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument("--position-bias", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--window-s", type=float, default=60.0, help="seconds the rate limits count over"
    )
    parser.add_argument(
        "--chars-per-token", type=float, default=4.0, help="how the stub counts usage tokens"
    )


def config_from(options: dict[str, Any]) -> StubConfig:
    return StubConfig(
        latency_ms=options["latency_ms"],
        rpm=options["rpm"],
        tpm=options["tpm"],
        error_rate=options["error_rate"],
        garbage_rate=options["garbage_rate"],
        hang=options["hang"],
        api_key=options["api_key"],
        position_bias=options["position_bias"],
        seed=options["seed"],
        window_s=options.get("window_s", 60.0),
        chars_per_token=options.get("chars_per_token", 4.0),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    server = StubHTTPServer((options["host"], options["port"]), config_from(options))
    print(f"OpenAI stub on http://{options['host']}:{server.server_port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.state.stopping.set()
        server.server_close()


if __name__ == "__main__":
    main()
