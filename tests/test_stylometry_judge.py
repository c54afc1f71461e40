"""The LLM judge through the real `openai` client against a real HTTP server on loopback.

The server is a STAND-IN for an LLM (no model can judge style deterministically here): it
answers chat completions by a fixed rule and records every prompt, so we can check that
each comparison is asked in both orders and that the swap is undone correctly."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stylometry.judge import Judge, parse_verdict

AUTHOR_MARK = "lantern"  # the stand-in "recognises" the author by this word


def _passages(prompt: str) -> tuple[str, str]:
    m = re.search(r"=== Passage A ===\n(.*)\n\n=== Passage B ===\n(.*)\n\nWhich", prompt, re.S)
    assert m, prompt
    return m.group(1), m.group(2)


def content_rule(prompt: str) -> str:
    """A position-free judge: prefers the passage that mentions the author's mark."""
    a, b = _passages(prompt)
    closer = "A" if AUTHOR_MARK in a and AUTHOR_MARK not in b else "B"
    return json.dumps({"closer": closer, "reason": "stand-in rule"})


class StandInLLM:
    """A loopback OpenAI-compatible /v1/chat/completions server with a scripted rule."""

    def __init__(self, rule: Callable[[str], str], structured: bool = True) -> None:
        self.rule = rule
        self.prompts: list[str] = []
        self.formats: list[dict | None] = []  # the response_format of each request
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.formats.append(body.get("response_format"))
                if body.get("response_format") and not structured:
                    return self._send(400, {"error": {"message": "response_format unsupported"}})
                prompt = body["messages"][-1]["content"]
                outer.prompts.append(prompt)
                reply = {
                    "id": "chatcmpl-standin",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": outer.rule(prompt)},
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                self._send(200, reply)

            def _send(self, status: int, reply: dict) -> None:
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in() -> Iterator[Callable[[Callable[[str], str]], StandInLLM]]:
    servers: list[StandInLLM] = []

    def start(rule: Callable[[str], str], structured: bool = True) -> StandInLLM:
        servers.append(StandInLLM(rule, structured))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


REFS = ["The lantern swung in the hub.", "Mossy watched the lantern.", "I kept the lantern lit."]
AUTHORISH = "Under the lantern I counted the crates again."
OTHER = "The stock market closed higher on Tuesday."


def test_both_orders_are_asked_and_the_swap_is_undone(stand_in):
    llm = stand_in(content_rule)
    judge = Judge(llm.url, "judge-model", REFS)
    verdict = judge.compare(AUTHORISH, OTHER)
    assert verdict.prob_first == 1.0 and verdict.consistent
    assert verdict.answers == ["A", "B"]  # forward: A; swapped: the same passage is now B
    assert [_passages(p) for p in llm.prompts] == [(AUTHORISH, OTHER), (OTHER, AUTHORISH)]
    assert judge.compare(OTHER, AUTHORISH).prob_first == 0.0
    calls = len(llm.prompts)
    judge.compare(AUTHORISH, OTHER)
    assert len(llm.prompts) == calls  # cached


def test_the_verdict_is_asked_as_a_schema_and_in_prose_where_the_endpoint_has_none(stand_in):
    llm = stand_in(content_rule)
    assert Judge(llm.url, "judge-model", REFS).compare(AUTHORISH, OTHER).consistent
    assert [f["json_schema"]["name"] for f in llm.formats] == ["style_verdict"] * 2
    plain = stand_in(content_rule, structured=False)
    judge = Judge(plain.url, "judge-model", REFS)
    assert judge.compare(AUTHORISH, OTHER).consistent
    # turned down once, then asked in prose only
    assert [f is not None for f in plain.formats] == [True, False, False]


def test_position_bias_cancels(stand_in):
    llm = stand_in(lambda prompt: '{"closer": "A", "reason": "always the first"}')
    verdict = Judge(llm.url, "judge-model", REFS).compare(AUTHORISH, OTHER)
    assert verdict.prob_first == 0.5
    assert not verdict.consistent


def test_rate_against_a_real_author_passage(stand_in):
    llm = stand_in(content_rule)
    judge = Judge(llm.url, "judge-model", REFS)
    assert judge.rate(AUTHORISH).score == 100.0  # judged as close as the author's own
    assert judge.rate(OTHER).score == 0.0
    # the held-back reference is the comparison passage, not an excerpt in the prompt
    assert "I kept the lantern lit." in _passages(llm.prompts[-1])[0]


def test_garbage_and_outage_are_reported_not_raised(stand_in):
    llm = stand_in(lambda prompt: "I think they are both lovely.")
    rating = Judge(llm.url, "judge-model", REFS).rate(AUTHORISH)
    assert rating.score is None and "no valid verdict" in rating.note
    llm.close()
    down = Judge(llm.url, "judge-model", REFS, timeout_s=2).rate(AUTHORISH)
    assert down.score is None and "judge unavailable" in down.note


def test_parse_verdict():
    assert parse_verdict('```json\n{"closer": "b", "reason": "x"}\n```') == "B"
    assert parse_verdict('Sure! {"closer": "A"} hope that helps') == "A"
    assert parse_verdict('{"closer": "C"}') is None
    assert parse_verdict("A") is None
    assert parse_verdict(None) is None


def test_score_uses_the_judge_and_survives_without_it(stand_in, corpora_dir):
    from stylometry import build_profile, calibrate, read_text, score
    from stylometry.text import chunk_paragraphs

    austen = chunk_paragraphs(read_text(corpora_dir / "austen" / "persuasion.txt"), 1000)[:8]
    others = chunk_paragraphs(read_text(corpora_dir / "doyle" / "the_lost_world.txt"), 1000)
    profile = calibrate(build_profile(austen, "austen"), austen, others[:8])
    llm = stand_in(content_rule)
    judge = Judge(llm.url, "judge-model", REFS)
    text = "The lantern was lit.\n\n" + austen[0]
    with_judge = score(text, profile, judge=judge)
    assert with_judge.parts["judge"] == 100.0
    assert with_judge.overall == pytest.approx(0.8 * with_judge.stylometric + 20, abs=0.1)
    llm.close()
    without = score("Again. " + text, profile, judge=judge)  # not cached: a new prompt
    assert "judge" not in without.parts
    assert any("judge skipped" in w for w in without.warnings)


def test_order_swap_consistency_is_measured(stand_in):
    from stylometry.judge import order_swap_consistency

    pairs = [(AUTHORISH, OTHER), ("The lantern hummed.", "Stocks fell.")]
    fair = order_swap_consistency(Judge(stand_in(content_rule).url, "m"), pairs, REFS)
    assert fair["consistency"] == 1.0 and fair["author_preferred_when_consistent"] == 1.0
    biased_llm = stand_in(lambda prompt: '{"closer": "A", "reason": "first"}')
    biased = order_swap_consistency(Judge(biased_llm.url, "m"), pairs, REFS)
    assert biased["both_orders_answered"] == 2 and biased["consistency"] == 0.0


def test_judge_calls_are_cached_on_disk_by_content(stand_in, tmp_path):
    llm = stand_in(content_rule)
    first = Judge(llm.url, "judge-model", REFS, cache_dir=tmp_path / "judge")
    first.compare(AUTHORISH, OTHER)
    asked = len(llm.prompts)
    again = Judge(llm.url, "judge-model", REFS, cache_dir=tmp_path / "judge")
    assert again.compare(AUTHORISH, OTHER).prob_first == 1.0
    assert len(llm.prompts) == asked  # a new judge, same content: no call
    again.compare(AUTHORISH, "A different passage about the weather.")
    assert len(llm.prompts) == asked + 2


def test_an_inconsistent_judge_is_not_blended(stand_in, corpora_dir):
    from stylometry import build_profile, calibrate, read_text, score
    from stylometry.text import chunk_paragraphs

    austen = chunk_paragraphs(read_text(corpora_dir / "austen" / "persuasion.txt"), 1000)[:8]
    others = chunk_paragraphs(read_text(corpora_dir / "doyle" / "the_lost_world.txt"), 1000)
    profile = calibrate(build_profile(austen, "austen"), austen, others[:8])
    llm = stand_in(lambda prompt: '{"closer": "A", "reason": "always the first"}')
    report = score(austen[0], profile, judge=Judge(llm.url, "judge-model", REFS))
    assert report.overall == report.stylometric
    assert any("order was swapped" in w for w in report.warnings)
