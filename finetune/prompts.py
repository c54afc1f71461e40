"""The writing instruction of every training example, shared with evaluation.

Evaluation must ask the adapter for a continuation in exactly the words it was trained on,
so the user turn is built here and nowhere else.
"""

from __future__ import annotations


def approx_words(text: str) -> int:
    """Word count rounded to tens: the length hint the instruction carries."""
    return max(10, round(len(text.split()), -1))


def writing_instruction(
    context: str | None, words: int, *, new_scene: bool = False, title: str | None = None
) -> str:
    """The user turn: what to write next, after which passage, and about how long.

    `context` is the end of the preceding passage of the same chapter (None at a chapter's
    opening); `new_scene` says a scene break separates it from what is to be written.
    """
    length = f"in about {words} words"
    if context is None:
        named = f" “{title}”" if title else ""
        return f"Write the opening of the chapter{named}, {length}."
    if new_scene:
        return (
            f"Here is the end of the previous scene:\n\n{context}\n\n"
            f"Write the next scene, {length}."
        )
    return (
        f"Here is the passage so far:\n\n{context}\n\n"
        f"Continue the scene from where it stops, {length}."
    )


def chat_messages(system: str, instruction: str, answer: str | None = None) -> list[dict]:
    """System / user (/ assistant) messages in the OpenAI chat format."""
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": instruction},
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages
