"""Evaluation prompts from the held-out chapters, in exactly the format the adapter was trained
on: the finetune package's chunker cuts the chapter, its instruction builder writes the user
turn, the training run's own system prompt leads; the author's real passage is kept aside as
the reference."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from finetune.chunking import split_chapter, tail_excerpt
from finetune.prompts import approx_words, chat_messages, writing_instruction
from serving.foundation.errors import InkwellError

CountTokens = Callable[[list[str]], list[int]]


class EvaluationInputError(InkwellError):
    """Held-out chapters that cannot give evaluation prompts."""


@dataclass(frozen=True)
class EvalPrompt:
    id: str  # "<chapter file>#<passage>"
    chapter: str
    messages: list[dict]  # system + user, OpenAI chat format
    reference: str  # the author's own continuation

    @property
    def text(self) -> str:
        """Everything the model was shown."""
        return "\n\n".join(m["content"] for m in self.messages)


def build_prompts(
    chapters: Sequence[tuple[Path, str]],
    system_prompt: str,
    count_tokens: CountTokens,
    *,
    count: int,
    new_tokens: int,
    context_tokens: int,
) -> list[EvalPrompt]:
    """Up to `count` prompts spread evenly over the chapters' passages; each passage is at
    most `new_tokens` long (and at least half that), so a model asked for it can write as much
    as the author did."""
    candidates: list[EvalPrompt] = []
    min_tokens = max(8, new_tokens // 2)
    for path, text in chapters:
        chapter = split_chapter(text, count_tokens, min_tokens, max(new_tokens, min_tokens + 1))
        previous = None
        for passage in chapter.passages:
            context = (
                tail_excerpt(previous.text, count_tokens, context_tokens) if previous else None
            )
            previous = passage
            if passage.tokens < min_tokens:
                continue
            instruction = writing_instruction(
                context, approx_words(passage.text), new_scene=passage.new_scene,
                title=chapter.title,
            )  # fmt: skip
            candidates.append(
                EvalPrompt(
                    id=f"{path.name}#{passage.index}",
                    chapter=path.name,
                    messages=chat_messages(system_prompt, instruction),
                    reference=passage.text,
                )
            )
    if not candidates:
        names = ", ".join(p.name for p, _ in chapters) or "none"
        raise EvaluationInputError(
            f"the held-out chapters ({names}) give no passage of {min_tokens}+ tokens to "
            "evaluate on; hold out longer chapters (book.held_out in inkwell.yaml)"
        )
    return spread(candidates, count)


def spread(items: list[EvalPrompt], count: int) -> list[EvalPrompt]:
    """`count` items evenly spaced through the list (all of them when there are fewer)."""
    if len(items) <= count:
        return items
    if count == 1:
        return [items[len(items) // 2]]
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]
