"""Two processes race promote / rollback / gate / unload on one registry and one engine: every
read-decide-write holds the registry lock, so the registry's live adapter is always one the
engine serves, and the gate never promotes over a live adapter it did not evaluate against.
The engine is the STAND-IN (benchmarks/harness/stand_in_engine.py: runtime LoRA load/unload
without weights), shared by both processes over HTTP like the real one."""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path

from serving.engine import EngineClient, EngineError
from serving.evaluation import gate_run
from serving.evaluation.results import Comparison, EvalSettings, EvaluationResult, ModelResult
from serving.evaluation.stats import Interval
from serving.foundation.config import GateConfig
from serving.foundation.workspace import Workspace, init_workspace
from serving.registry import RegistryError, hotload
from tests.reliability_counts import record

ADAPTERS = ("a", "b", "c")
OPS_PER_PROCESS = 100


def fake_adapter(ws: Workspace, name: str) -> None:
    """An adapter folder as training leaves it (the stand-in never reads the weights)."""
    folder = ws.adapters_dir / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"run": name, "base_model": "base"}))
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8}))
    (folder / "adapter_model.safetensors").write_bytes(name.encode() * 64)


def evaluation_of_c_against_a(ws: Workspace) -> None:
    """An evaluation in which candidate c clearly beats live a and the base model."""
    win = Interval(mean=10.0, low=5.0, high=15.0)
    nll = Interval(mean=-0.1, low=-0.2, high=0.0)

    def model(role: str, name: str) -> ModelResult:
        return ModelResult(role=role, name=name, style=win, parts={}, nll=3.0,
                           per_prompt_style=[50.0], per_prompt_nll=[3.0])  # fmt: skip

    EvaluationResult(
        run="c", created_at="now", settings=EvalSettings.from_gate(GateConfig()), profile={},
        prompt_ids=["0"], reference_style=80.0,
        models={"base": model("base", "base"), "live": model("live", "a"),
                "candidate": model("candidate", "c")},
        comparisons={r: Comparison(against=r, style=win, nll=nll) for r in ("base", "live")},
    ).save(ws.adapters_dir / "c")  # fmt: skip


def worker(root: str, engine_url: str, seed: int, out: str) -> None:
    ws = Workspace.load(root)
    registry = hotload.registry_for(ws)
    rng = random.Random(seed)
    counts = {"ops": 0, "refused": 0, "violations": 0}
    with EngineClient(engine_url) as client:
        for _ in range(OPS_PER_PROCESS):
            op = rng.choice(("promote", "rollback", "gate", "unload"))
            try:
                if op == "promote":
                    hotload.promote(ws, client, rng.choice(ADAPTERS))
                elif op == "rollback":
                    hotload.rollback(ws, client)
                elif op == "gate":
                    gate_run(ws, "c", client)
                else:
                    hotload.unload(ws, client, rng.choice(ADAPTERS))
            except (RegistryError, EngineError):
                counts["refused"] += 1  # already live, nothing to roll back, not loaded...
            counts["ops"] += 1
            with registry.locked():
                live = registry.live()
                if live is not None and live.name not in client.loaded_adapters():
                    counts["violations"] += 1
    Path(out).write_text(json.dumps(counts))


def test_two_processes_racing_keep_the_live_adapter_served(tmp_path: Path, scripted_upstream):
    ws = init_workspace(tmp_path / "book")
    for name in ADAPTERS:
        fake_adapter(ws, name)
    with EngineClient(scripted_upstream.url) as client:
        for name in ADAPTERS:
            hotload.load(ws, client, name)
        hotload.promote(ws, client, "a")
        evaluation_of_c_against_a(ws)

        spawn = multiprocessing.get_context("spawn")
        outs = [tmp_path / f"worker-{i}.json" for i in range(2)]
        workers = [
            spawn.Process(target=worker, args=(str(ws.root), scripted_upstream.url, i, str(out)))
            for i, out in enumerate(outs)
        ]
        for process in workers:
            process.start()
        for process in workers:
            process.join(timeout=120)
            assert process.exitcode == 0
        counts = [json.loads(out.read_text()) for out in outs]

        registry = hotload.registry_for(ws)
        live = registry.live()
        assert live is None or live.name in client.loaded_adapters()
    assert sum(c["violations"] for c in counts) == 0
    assert sum(c["ops"] for c in counts) == 2 * OPS_PER_PROCESS
    # The gate promoted c only over the live adapter its evaluation compared it with.
    history = registry.history()
    gated = [i for i, entry in enumerate(history) if entry.reason.startswith("gate:")]
    assert all(i > 0 and history[i - 1].name == "a" for i in gated)
    record("races", "promote/rollback/gate/unload, 2 processes", 2 * OPS_PER_PROCESS,
           violations=sum(c["violations"] for c in counts))  # fmt: skip
