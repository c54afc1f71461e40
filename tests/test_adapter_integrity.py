"""Adapter integrity: the registry's digest covers the weights, so an adapter whose files
changed after registration is refused at load with a message that says so, and never reaches
the engine (the STAND-IN engine, benchmarks/harness/stand_in_engine.py, records every load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.engine import AdapterLoadError, EngineClient
from serving.foundation.atomic import fsync_tree
from serving.foundation.workspace import init_workspace
from serving.registry import hotload
from serving.registry.digest import adapter_digest
from tests.test_registry_races import fake_adapter


def test_corrupted_weights_are_refused_at_load_and_never_served(tmp_path: Path, scripted_upstream):
    ws = init_workspace(tmp_path / "book")
    fake_adapter(ws, "voice")
    weights = ws.adapters_dir / "voice" / "adapter_model.safetensors"
    with EngineClient(scripted_upstream.url) as client:
        record = hotload.load(ws, client, "voice")
        assert record.weights_digest == adapter_digest(weights.parent)
        client.unload_adapter("voice")  # as after an engine restart

        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0x01  # one flipped bit in the weights
        weights.write_bytes(bytes(data))
        registry_before = ws.registry_path.read_bytes()
        with pytest.raises(AdapterLoadError, match="corrupted or was replaced"):
            hotload.promote(ws, client, "voice")
        assert "voice" not in client.loaded_adapters()
        assert ws.registry_path.read_bytes() == registry_before
        problems = hotload.reload_registered(ws, client)
        assert len(problems) == 1 and "voice" in problems[0]
        assert "voice" not in client.loaded_adapters()
    loads = [r for r in scripted_upstream.received() if r["path"] == "/v1/load_lora_adapter"]
    assert len(loads) == 1  # only the load before the corruption


def test_digest_changes_with_any_weight_file_and_not_with_reports(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "book")
    fake_adapter(ws, "voice")
    folder = ws.adapters_dir / "voice"
    before = adapter_digest(folder)
    (folder / "evaluation").mkdir()
    (folder / "evaluation" / "evaluation.json").write_text("{}")  # reports land here later
    assert adapter_digest(folder) == before
    (folder / "adapter_config.json").write_text('{"r": 16}')
    assert adapter_digest(folder) != before
    fsync_tree(folder)  # flushing changes nothing
