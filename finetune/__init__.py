"""Fine-tuning: chapters → chat-format data → LoRA/QLoRA adapters with manifests.

    base = ensure_base_model("smollm2-135m")                   # HF folder, built once offline
    card = prepare_dataset(chapters, held_out, data_dir, base)  # train/validation JSONL + card
    run_dir = train(load_train_config(path), BookPaths(...))    # .inkwell/adapters/<run>/
    merge(run_dir, out_dir)                                     # merged model for export

Heavy libraries (torch, transformers, peft, trl) are imported inside the functions that
need them, so importing this package stays cheap.
"""

from finetune.base_model import base_model_hash, ensure_base_model
from finetune.config import TrainConfig, TrainConfigError, load_train_config
from finetune.manifest import AdapterManifest
from finetune.merge import merge
from finetune.prepare import DataCard, PrepareError, prepare_dataset
from finetune.train import BookPaths, TrainError, train

__all__ = [
    "AdapterManifest",
    "BookPaths",
    "DataCard",
    "PrepareError",
    "TrainConfig",
    "TrainConfigError",
    "TrainError",
    "base_model_hash",
    "ensure_base_model",
    "load_train_config",
    "merge",
    "prepare_dataset",
    "train",
]
