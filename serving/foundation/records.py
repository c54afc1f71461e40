"""Records kept as one JSON file in a folder (an adapter's manifest, a data card, an
evaluation): written atomically, read back with an error that says which file and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

from pydantic import BaseModel

from serving.foundation.atomic import write_json_atomic
from serving.foundation.errors import InkwellError


class JsonRecord(BaseModel):
    """`FILE` names the record inside its folder."""

    FILE: ClassVar[str]

    def save(self, folder: Path) -> Path:
        path = Path(folder) / self.FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, self.model_dump(mode="json"))
        return path

    @classmethod
    def read(cls, folder: Path, error: type[InkwellError], missing: str, fix: str) -> Self:
        """The record in `folder`, else `error` naming the file: `missing` when it is not
        there, `fix` (what to run) when it does not parse."""
        path = Path(folder) / cls.FILE
        if not path.is_file():
            raise error(f"{path}: {missing}")
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:  # pydantic's ValidationError is a ValueError
            raise error(f"{path}: unreadable ({exc}); {fix}") from None
