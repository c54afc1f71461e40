"""Export: the base model with an adapter merged into its weights (`inkwell merge`).

Serving never needs this (vLLM hot-loads adapters); it is for taking the voice elsewhere.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from finetune.manifest import AdapterManifest


def merge(run_dir: Path, out_dir: Path) -> Path:
    """Merge the adapter in run_dir into its base model and save model + tokenizer to out_dir
    (which must not exist or be empty); written to a temp folder first, then renamed."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = Path(run_dir)
    out_dir = Path(out_dir).expanduser().resolve()
    manifest = AdapterManifest.load(run_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: already exists and is not empty; choose a new --out")
    base = AutoModelForCausalLM.from_pretrained(manifest.base_model, dtype="auto")
    merged = PeftModel.from_pretrained(base, str(run_dir)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(run_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out_dir.name}-", dir=out_dir.parent))
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.copy2(run_dir / "manifest.json", tmp / "inkwell-adapter-manifest.json")
        tmp.chmod(0o755)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
