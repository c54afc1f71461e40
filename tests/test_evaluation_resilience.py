"""A long gate run survives the engine's hiccups and its own death: transient engine errors are
retried with backoff, other errors stop at once, and a killed evaluation resumes from the
continuations it already generated. The engine is the scripted STAND-IN (a GPU engine cannot
run here fast enough for this); the evaluation code is the real one."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.engine.client import EngineClient, EngineError
from serving.evaluation.evaluate import EvaluationPlan, generate_continuations
from serving.evaluation.generation import Sampling, generate
from serving.evaluation.generation_cache import GenerationCache
from serving.evaluation.prompts import EvalPrompt
from serving.evaluation.results import EVALUATION_DIR, EvalSettings
from tests.reliability_counts import record

SAMPLING = Sampling(max_tokens=32, temperature=0.8, top_p=0.95)


def prompt(index: int) -> EvalPrompt:
    messages = [{"role": "user", "content": f"Continue passage {index}."}]
    return EvalPrompt(id=f"ch1#{index}", chapter="ch1", messages=messages, reference="...")


def test_transient_engine_errors_are_retried(scripted_upstream) -> None:
    scripted_upstream.script(
        {"kind": "error", "status": 503, "body": {"error": {"message": "busy"}}},
        {"kind": "error", "status": 502, "body": {"error": {"message": "restarting"}}},
        {"kind": "reply", "text": "The rain came at last."},
    )
    with EngineClient(scripted_upstream.url) as client:
        text = generate(client, prompt(0), "base", 0, 0, SAMPLING)
    assert text == "The rain came at last."
    assert len(scripted_upstream.received("/v1/chat/completions")) == 3
    record("faults", "engine: 503 then 502 during evaluation (retried)", 2, server_errors=0)


def test_a_refused_request_is_not_retried(scripted_upstream) -> None:
    scripted_upstream.script(
        {"kind": "error", "status": 400, "body": {"error": {"message": "bad seed"}}}
    )
    with (
        EngineClient(scripted_upstream.url) as client,
        pytest.raises(EngineError, match="bad seed"),
    ):
        generate(client, prompt(0), "base", 0, 0, SAMPLING)
    assert len(scripted_upstream.received("/v1/chat/completions")) == 1


def plan_for(run_dir: Path, client: EngineClient) -> EvaluationPlan:
    settings = EvalSettings(
        prompts=3,
        new_tokens=SAMPLING.max_tokens,
        seeds=[0, 1],
        temperature=SAMPLING.temperature,
        top_p=SAMPLING.top_p,
        bootstrap_samples=100,
        confidence=0.95,
        workers=2,
    )
    return EvaluationPlan(
        ws=None,
        run="voice",
        run_dir=run_dir,
        client=client,
        settings=settings,
        models={"base": "base", "candidate": "voice"},
        prompts=[prompt(i) for i in range(3)],
        profile=None,
        tokenizer=None,
        chapters=["ch1"],
        progress=False,
    )


def test_a_killed_evaluation_resumes_from_its_generations(
    tmp_path: Path, scripted_upstream
) -> None:
    scripted_upstream.set_default({"kind": "reply", "text": "A sentence in the voice."})
    with EngineClient(scripted_upstream.url) as client:
        first = plan_for(tmp_path, client)
        generate_continuations(first)
        assert len(scripted_upstream.received("/v1/chat/completions")) == 12  # 2 x 3 x 2
        # A kill mid-write leaves a cut last line, and two continuations were never written.
        cache = tmp_path / EVALUATION_DIR / "generations.jsonl"
        lines = cache.read_text(encoding="utf-8").splitlines()
        cache.write_text("\n".join(lines[:-3]) + "\n" + lines[-3][:20], encoding="utf-8")
        scripted_upstream.reset()
        scripted_upstream.set_default({"kind": "reply", "text": "A sentence in the voice."})
        again = plan_for(tmp_path, client)
        generate_continuations(again)
    assert len(scripted_upstream.received("/v1/chat/completions")) == 3
    assert again.texts == first.texts
    assert len(GenerationCache(tmp_path / EVALUATION_DIR).texts) == 12
    record("kill_points", "evaluation: killed while writing its generations", 1, data_lost=0)
