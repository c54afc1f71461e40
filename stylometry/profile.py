"""An author profile: the summed features of the author's chapters, versioned by the hash
of the text it was built from, plus (once calibrated) the reference population and the
per-length score calibration. Saved as one JSON file."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError
from tqdm import tqdm

from stylometry.features import Counts, Mode, extract
from stylometry.reference import Reference
from stylometry.text import StyleInputError, normalize
from stylometry.verifier import VerifierModel

# 2: the score is the verifier's; 3: with punctuation; 4: two views (older: rebuild)
FORMAT_VERSION = 4


class LevelCalibration(BaseModel):
    """How the score behaves for texts of about `words` words."""

    words: int
    offset: dict[str, float]  # log(distance + offset) keeps zero distances finite
    center: dict[str, float]  # standardisation of log-distances
    scale: dict[str, float]
    feature_fits: dict[str, tuple[float, float]]  # distance -> (intercept, slope) of a part
    platt_bias: float  # the score: P(author) = sigmoid(platt_bias + platt_slope * margin)
    platt_slope: float
    auc: float  # out-of-fold author chunks vs impostor chunks
    threshold: float  # score (0-100) separating them best (Youden's J)
    true_positive_rate: float
    false_positive_rate: float
    author_median: float
    impostor_median: float
    n_author: int
    n_impostor: int
    evaluated_on: str


class Calibration(BaseModel):
    reference: Reference  # the parts' z-score population
    verifier: VerifierModel  # the score's model
    levels: list[LevelCalibration]
    impostor_texts: int
    impostor_words: int
    impostor_hash: str
    created_at: str

    def level_for(self, n_words: int) -> LevelCalibration:
        """The calibration made for the text length closest to n_words (in log scale)."""
        return min(self.levels, key=lambda lv: abs(math.log(max(n_words, 1) / lv.words)))


class AuthorProfile(BaseModel):
    format_version: int = FORMAT_VERSION
    name: str
    mode: str
    data_hash: str
    source_hashes: list[str]
    n_texts: int
    n_words: int
    created_at: str
    totals: dict
    calibration: Calibration | None = None

    def counts(self) -> Counts:
        return Counts.from_dict(self.totals)

    def save(self, path: Path | str) -> Path:
        """Write atomically (temp file + fsync + rename): an interrupted save keeps the old one."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.model_dump_json())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: Path | str) -> AuthorProfile:
        path = Path(path)
        if not path.is_file():
            raise StyleInputError(
                f"{path}: no style profile here; build one with `inkwell style profile`"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StyleInputError(f"{path}: not a readable profile ({exc}); rebuild it") from exc
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise StyleInputError(
                f"{path}: profile format is not version {FORMAT_VERSION} (made by an older "
                "Inkwell); recalibrate it with `inkwell style profile`"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise StyleInputError(f"{path}: invalid profile: {exc.errors()[0]['msg']}") from exc


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


def data_hash(texts: Sequence[str], mode: str) -> str:
    h = hashlib.sha256(f"inkwell-style-v{FORMAT_VERSION}:{mode}".encode())
    for t in texts:
        h.update(text_hash(t).encode())
    return h.hexdigest()


def profile_from_counts(
    name: str, mode: Mode, hashes: list[str], digest: str, per_text: Sequence[Counts]
) -> AuthorProfile:
    total = Counts.total(per_text)
    return AuthorProfile(
        name=name,
        mode=mode,
        data_hash=digest,
        source_hashes=hashes,
        n_texts=len(per_text),
        n_words=total.n_words,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        totals=total.to_dict(),
    )


def build_profile(
    texts: Sequence[str], name: str, mode: Mode = "fast", progress: bool = False
) -> AuthorProfile:
    """Sum the features of the author's texts (chapters). Calibrate it before scoring."""
    if not texts:
        raise StyleInputError(f"profile {name!r}: no texts to build it from")
    per_text = []
    for i, t in enumerate(tqdm(texts, desc=f"profile {name}", disable=not progress, unit="text")):
        try:
            per_text.append(extract(t, mode))
        except StyleInputError as exc:
            raise StyleInputError(f"profile {name!r}, text {i + 1}: {exc}") from exc
    return profile_from_counts(
        name, mode, [text_hash(t) for t in texts], data_hash(texts, mode), per_text
    )
