"""Chapters → chat-format training data (`inkwell prepare`).

Each example asks for the next passage of a chapter, quoting the end of the passage before
it, under a system prompt that describes the author's style; the answer is the author's own
text. Held-out chapters are the yardstick of evaluation and never reach this data.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict
from tqdm.auto import tqdm

from finetune.chunking import ChapterText, CountTokens, split_chapter, tail_excerpt
from finetune.config import DataConfig
from finetune.errors import FinetuneError
from finetune.prompts import approx_words, chat_messages, writing_instruction
from serving.foundation.atomic import write_text_atomic
from serving.foundation.records import JsonRecord

TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "validation.jsonl"
CARD_FILE = "data_card.json"


class PrepareError(FinetuneError):
    """Chapters that cannot become a training set; the message names every bad file."""


class ChapterProblem(BaseModel):
    path: str
    problem: str


class TokenStats(BaseModel):
    count: int
    total: int
    min: int
    max: int
    mean: float
    median: float

    @classmethod
    def of(cls, values: Sequence[int]) -> TokenStats:
        return cls(
            count=len(values),
            total=sum(values),
            min=min(values),
            max=max(values),
            mean=round(statistics.fmean(values), 1),
            median=statistics.median(values),
        )


class DataCard(JsonRecord):
    """What a training set is made of; its data_hash goes into every adapter's manifest."""

    model_config = ConfigDict(extra="forbid")
    FILE: ClassVar[str] = CARD_FILE

    author: str
    base_model: str
    params: DataConfig
    # Hash of the inputs (chapters, held-out names, params): equal means the data is current.
    fingerprint: str
    # Hash of the written JSONL files.
    data_hash: str
    system_prompt: str
    training_chapters: list[str]
    held_out_chapters: list[str]
    skipped: list[ChapterProblem]
    passages: int
    duplicates_removed: int
    train_examples: int
    validation_examples: int
    assistant_tokens: TokenStats
    example_tokens: TokenStats
    train_file: str = TRAIN_FILE
    validation_file: str = VALIDATION_FILE

    @classmethod
    def load(cls, data_dir: Path) -> DataCard:
        fix = "run `inkwell prepare`"
        return cls.read(data_dir, PrepareError, f"no prepared data; {fix} first", fix)


def dataset_fingerprint(
    training: Sequence[Path],
    held_out: Sequence[Path],
    params: DataConfig,
    author: str,
    base_model: str,
) -> str:
    """Changes whenever prepare would write different data: a chapter's bytes, the split,
    the chunking parameters, the author name or the tokenizer's model."""
    digest = hashlib.sha256()
    head = {"params": params.model_dump(mode="json"), "author": author, "base_model": base_model}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for path in training:
        digest.update(f"train:{path.name}:".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for path in held_out:
        digest.update(f"held:{path.name}".encode())
    return digest.hexdigest()


def prepare_dataset(
    chapters: Sequence[Path],
    held_out: Sequence[Path],
    out_dir: Path,
    tokenizer_path: Path | str,
    *,
    params: DataConfig | None = None,
    author: str = "author",
    base_model: str = "smollm2-135m",
) -> DataCard:
    """Write train/validation JSONL and the data card into out_dir.

    `chapters` may include the held-out ones: they are removed here whatever the caller
    passed. Unreadable chapters are an error; chapters too short for one passage are
    skipped and listed on the card; an empty result is an error, never an empty file.
    """
    from transformers import AutoTokenizer

    import stylometry

    params = params or DataConfig()
    training = _training_chapters(chapters, held_out)
    texts = _read_chapters(training)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
    count_tokens = _token_counter(tokenizer)
    split, skipped = _split_chapters(texts, count_tokens, params)
    profile = stylometry.build_profile([texts[p] for p in split], author)
    system = stylometry.describe_style(profile)
    examples = _examples(split, system, count_tokens, params)
    train_rows, val_rows = _validation_split(examples.records, params)

    data_hash = _write_split(out_dir, train_rows, val_rows)

    records = examples.records
    answers = [r["messages"][-1]["content"] for r in records]
    card = DataCard(
        author=author,
        base_model=base_model,
        params=params,
        fingerprint=dataset_fingerprint(training, held_out, params, author, base_model),
        data_hash=data_hash,
        system_prompt=system,
        training_chapters=[p.name for p in split],
        held_out_chapters=[p.name for p in held_out],
        skipped=skipped,
        passages=len(records) + examples.duplicates,
        duplicates_removed=examples.duplicates,
        train_examples=len(train_rows),
        validation_examples=len(val_rows),
        assistant_tokens=TokenStats.of(count_tokens(answers)),
        example_tokens=TokenStats.of(_example_lengths(tokenizer, records)),
    )
    card.save(out_dir)
    return card


@dataclass(frozen=True)
class _Examples:
    """The chat examples of a dataset, and how many repeated passages were left out."""

    records: list[dict]
    duplicates: int


def _training_chapters(chapters: Sequence[Path], held_out: Sequence[Path]) -> list[Path]:
    """The chapters less the held-out ones, which must never reach the training data."""
    held = {p.resolve() for p in held_out}
    training = [p for p in chapters if p.resolve() not in held]
    if not training:
        raise PrepareError(
            "no chapters to train on: every chapter is held out "
            f"({', '.join(p.name for p in held_out) or 'none found'})"
        )
    return training


def _read_chapters(training: list[Path]) -> dict[Path, str]:
    """Every chapter's text; the error names every chapter that cannot be read, not only the
    first."""
    import stylometry

    texts, unreadable = {}, []
    for path in training:
        try:
            texts[path] = stylometry.read_text(path)
        except ValueError as exc:
            unreadable.append(f"{path}: {exc}")
    if unreadable:
        raise PrepareError("cannot read these chapters:\n  " + "\n  ".join(unreadable))
    return texts


def _token_counter(tokenizer) -> CountTokens:
    def count_tokens(pieces: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(pieces, add_special_tokens=False)["input_ids"]]

    return count_tokens


def _split_chapters(
    texts: dict[Path, str], count_tokens: CountTokens, params: DataConfig
) -> tuple[dict[Path, ChapterText], list[ChapterProblem]]:
    """Each chapter cut into passages; chapters shorter than one passage are set aside with
    the reason, and none left is an error."""
    split, skipped = {}, []
    for path, text in tqdm(texts.items(), desc="Chunking chapters", unit="chapter"):
        chapter = split_chapter(
            text, count_tokens, params.chunk_min_tokens, params.chunk_max_tokens
        )
        if chapter.total_tokens < params.chunk_min_tokens:
            skipped.append(
                ChapterProblem(
                    path=str(path),
                    problem=f"shorter than one passage ({chapter.total_tokens} tokens; "
                    f"data.chunk_min_tokens is {params.chunk_min_tokens})",
                )
            )
            continue
        split[path] = chapter
    if not split:
        raise PrepareError(
            "no chapter is long enough for one passage:\n  "
            + "\n  ".join(f"{p.path}: {p.problem}" for p in skipped)
        )
    return split, skipped


def _examples(
    split: dict[Path, ChapterText], system: str, count_tokens: CountTokens, params: DataConfig
) -> _Examples:
    """One example per passage, quoting the end of the passage before it; a passage seen
    before (ignoring case and spacing) is left out, so validation never repeats training."""
    records, seen, duplicates = [], set(), 0
    for path, chapter in split.items():
        previous = None
        for passage in chapter.passages:
            key = hashlib.sha256(" ".join(passage.text.lower().split()).encode()).digest()
            context = (
                tail_excerpt(previous.text, count_tokens, params.context_tokens)
                if previous
                else None
            )
            previous = passage
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            instruction = writing_instruction(
                context,
                approx_words(passage.text),
                new_scene=passage.new_scene,
                title=chapter.title,
            )
            records.append(
                {
                    "messages": chat_messages(system, instruction, passage.text),
                    "source": path.name,
                    "passage": passage.index,
                }
            )
    if len(records) < 2:
        raise PrepareError(
            f"only {len(records)} passage(s) from {len(split)} chapter(s): at least 2 are needed "
            "(one for validation); add chapters or lower data.chunk_min_tokens"
        )
    return _Examples(records=records, duplicates=duplicates)


def _validation_split(records: list[dict], params: DataConfig) -> tuple[list[dict], list[dict]]:
    """A seeded random share of the examples for validation (at least one); both parts keep
    the examples' order."""
    order = list(range(len(records)))
    random.Random(params.seed).shuffle(order)
    n_val = max(1, round(len(records) * params.validation_fraction))
    val_ids = set(order[:n_val])
    train_rows = [r for i, r in enumerate(records) if i not in val_ids]
    val_rows = [r for i, r in enumerate(records) if i in val_ids]
    return train_rows, val_rows


def _write_split(out_dir: Path, train_rows: list[dict], val_rows: list[dict]) -> str:
    """Write both JSONL files; the hash of what was written, for the card and manifests."""
    out_dir.mkdir(parents=True, exist_ok=True)
    train_text = _jsonl(train_rows)
    val_text = _jsonl(val_rows)
    write_text_atomic(out_dir / TRAIN_FILE, train_text)
    write_text_atomic(out_dir / VALIDATION_FILE, val_text)
    return hashlib.sha256((train_text + "\0" + val_text).encode()).hexdigest()


def _example_lengths(tokenizer, records: list[dict]) -> list[int]:
    """Each example's tokens under the chat template, as the trainer will see it."""
    full_ids = tokenizer.apply_chat_template(
        [r["messages"] for r in records], tokenize=True, return_dict=True
    )["input_ids"]
    return [len(ids) for ids in full_ids]


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
