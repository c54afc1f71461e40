"""configs/inkwell.yaml is written from the schema (values and field descriptions), so the
defaults and their documentation have one source: `inkwell config defaults --write`, and a
test that fails when the file and the schema drift apart."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel

from serving.foundation.config import InkwellConfig

DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "configs" / "inkwell.yaml"
HEADER = (
    "# Inkwell's defaults, written from the schema (serving/foundation/config.py, rag/config.py)\n"
    "# by `inkwell config defaults --write`; edit the schema, not this file. A workspace's own\n"
    "# inkwell.yaml overrides any key (deep merge); unknown keys are rejected with their path.\n"
)
COMMENT_WIDTH = 96


def render_defaults() -> str:
    """The defaults as commented YAML, in schema order."""
    return HEADER + "".join(_section(name, model) for name, model in _sections())


def _sections() -> list[tuple[str, BaseModel]]:
    defaults = InkwellConfig()
    return [(name, getattr(defaults, name)) for name in InkwellConfig.model_fields]


def _section(name: str, model: BaseModel, indent: str = "") -> str:
    lines = [f"\n{indent}{name}:\n"] if not indent else [f"{indent}{name}:\n"]
    inner = indent + "  "
    for key, info in type(model).model_fields.items():
        lines += _comment(info.description, inner)
        value = getattr(model, key)
        if isinstance(value, BaseModel):
            lines.append(_section(key, value, inner))
        else:
            lines.append(f"{inner}{key}: {_scalar(value)}\n")
    return "".join(lines)


def _comment(description: str | None, indent: str) -> list[str]:
    if not description:
        return []
    words, lines, line = description.split(), [], ""
    for word in words:
        if line and len(indent) + 2 + len(line) + 1 + len(word) > COMMENT_WIDTH:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return [f"{indent}# {text}\n" for text in lines]


def _scalar(value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("...").strip()


def write_defaults(path: Path = DEFAULTS_FILE) -> Path:
    from serving.foundation.atomic import write_text_atomic

    write_text_atomic(path, render_defaults())
    return path
