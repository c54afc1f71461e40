"""Style-steered sampling through the real proxy, with the openai SDK, against the STAND-IN
engine (benchmarks/harness/stand_in_engine.py: it answers n candidates from a script): one
engine call with n, the candidate closest to the book's voice back as the only choice,
streamed or not, with its scores in a header and the trace; clear 4xx for bad asks."""

from __future__ import annotations

import time

import openai
import pytest

from serving.foundation.workspace import Workspace, init_workspace
from serving.proxy.trace import find_trace
from tests.fixtures.upstream import ScriptedUpstream, running_proxy

ASK = [{"role": "user", "content": "Continue the scene: Anne waits for the letter."}]


@pytest.fixture(scope="module")
def texts(corpora_dir) -> dict[str, str]:
    from stylometry import read_text
    from stylometry.text import chunk_paragraphs

    austen = chunk_paragraphs(read_text(corpora_dir / "austen" / "persuasion.txt"), 300)
    doyle = chunk_paragraphs(read_text(corpora_dir / "doyle" / "the_lost_world.txt"), 300)
    return {"austen": austen[40], "austen_later": austen[60], "doyle": doyle[40]}


@pytest.fixture(scope="module")
def book(tmp_path_factory, corpora_dir, texts) -> Workspace:
    """A book whose style profile is Austen's (Persuasion), calibrated against Doyle."""
    from stylometry import build_profile, calibrate, read_text
    from stylometry.text import chunk_paragraphs

    ws = init_workspace(tmp_path_factory.mktemp("best-of") / "book")
    austen = chunk_paragraphs(read_text(corpora_dir / "austen" / "persuasion.txt"), 1000)[:8]
    doyle = chunk_paragraphs(read_text(corpora_dir / "doyle" / "the_lost_world.txt"), 1000)
    calibrate(build_profile(austen, "austen"), austen, doyle[:8]).save(ws.style_profile_path)
    return ws


@pytest.fixture(scope="module")
def proxy(book: Workspace, _scripted_upstream_process: ScriptedUpstream) -> str:
    with running_proxy(book, engine_url=_scripted_upstream_process.url) as url:
        yield url


@pytest.fixture
def client(proxy: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy, api_key="unused", max_retries=0)


def candidates(texts: dict[str, str]) -> list[str]:
    return [texts["doyle"], "Yes.", texts["austen"], ""]


def trace_of(ws: Workspace, request_id: str) -> dict:
    deadline = time.monotonic() + 2
    while (trace := find_trace(ws.traces_path, request_id)) is None:
        assert time.monotonic() < deadline, f"no trace line for {request_id}"
        time.sleep(0.02)
    return trace


def test_the_candidate_in_the_authors_voice_wins(client, book, texts, scripted_upstream):
    scripted_upstream.script({"kind": "reply", "texts": candidates(texts)})
    raw = client.chat.completions.with_raw_response.create(
        model="inkwell", messages=ASK, temperature=0.9, extra_body={"inkwell": {"best_of": 4}}
    )
    reply = raw.parse()
    assert [c.message.content for c in reply.choices] == [texts["austen"]]
    assert reply.choices[0].index == 0
    scores = [float(s) for s in raw.headers["x-inkwell-best-of-scores"].split(",")]
    assert len(scores) == 4 and max(scores) == scores[2] > scores[0]
    assert raw.headers["x-inkwell-best-of-winner"] == "2"
    (sent,) = scripted_upstream.received("/v1/chat/completions")
    assert sent["body"]["n"] == 4 and sent["body"]["stream"] is False
    assert "inkwell" not in sent["body"] and sent["body"]["temperature"] == 0.9
    trace = trace_of(book, raw.headers["x-inkwell-request-id"])
    assert trace["best_of"]["winner"] == 2 and len(trace["best_of"]["scores"]) == 4
    assert trace["best_of"]["scoring_ms"] > 0


def test_a_candidate_that_echoes_the_writers_passage_does_not_win(client, texts, scripted_upstream):
    """The writer pastes their own scene; a candidate that repeats it is not their voice."""
    passage = texts["austen"]
    ask = [{"role": "user", "content": f"Continue this scene:\n\n{passage}"}]
    scripted_upstream.script({"kind": "reply", "texts": [passage, texts["austen_later"]]})
    raw = client.chat.completions.with_raw_response.create(
        model="inkwell", messages=ask, extra_body={"inkwell": {"best_of": 2}}
    )
    assert raw.parse().choices[0].message.content == texts["austen_later"]
    copied, written = (float(s) for s in raw.headers["x-inkwell-best-of-scores"].split(","))
    assert copied == 0.0 < written


def test_a_stream_gets_the_winner_once_chosen(client, texts, scripted_upstream):
    scripted_upstream.script({"kind": "reply", "texts": candidates(texts)})
    with client.chat.completions.with_streaming_response.create(
        model="inkwell-best",  # the alias: server.best_of_default candidates
        messages=ASK,
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["x-inkwell-best-of-winner"] == "2"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == texts["austen"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    (sent,) = scripted_upstream.received("/v1/chat/completions")
    assert sent["body"]["n"] == 4 and "stream_options" not in sent["body"]


def test_one_candidate_is_a_plain_request(client, scripted_upstream):
    raw = client.chat.completions.with_raw_response.create(
        model="inkwell", messages=ASK, extra_body={"inkwell": {"best_of": 1}}
    )
    assert "x-inkwell-best-of-scores" not in raw.headers
    assert "n" not in scripted_upstream.received("/v1/chat/completions")[-1]["body"]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"inkwell": {"best_of": 0}}, "between 1 and 8"),
        ({"inkwell": {"best_of": 9}}, "between 1 and 8"),
        ({"inkwell": {"best_of": 3}, "n": 2}, "cannot be combined with n"),
    ],
)
def test_bad_asks_are_400_and_reach_no_engine(client, scripted_upstream, extra, match):
    with pytest.raises(openai.BadRequestError, match=match):
        client.chat.completions.create(model="inkwell", messages=ASK, extra_body=extra)
    with pytest.raises(openai.BadRequestError, match="chat/completions"):
        client.completions.create(model="inkwell-best", prompt="Anne")
    assert scripted_upstream.received("/v1/chat/completions") == []


@pytest.mark.parametrize(
    ("profile", "problem"),
    [(None, "has no style profile"), (b'{"name": "half-writ', "cannot use its style profile")],
)
def test_no_style_profile_says_how_to_build_one(scripted_upstream, tmp_path, profile, problem):
    """The proxy still starts (its scorer warm-up skips what it cannot use); the best-of
    request says what is wrong and how to fix it."""
    ws = init_workspace(tmp_path / "unprofiled")
    if profile is not None:
        ws.style_profile_path.parent.mkdir(parents=True, exist_ok=True)
        ws.style_profile_path.write_bytes(profile)
    with running_proxy(ws, engine_url=scripted_upstream.url) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        with pytest.raises(openai.ConflictError, match=f"{problem}.*inkwell style profile"):
            client.chat.completions.create(model="inkwell-best", messages=ASK)
    assert scripted_upstream.received("/v1/chat/completions") == []
