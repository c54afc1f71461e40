"""An author's workspace: one folder per book, with paths confined inside it."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from serving.foundation.config import InkwellConfig, load_config
from serving.foundation.errors import WorkspaceError

CHAPTER_SUFFIXES = (".txt", ".md")
DEMO_BOOK = Path(__file__).resolve().parents[1] / "demo_book"
# Public-domain novels beside a development checkout (../shared/corpora/dev): the demo book's
# impostor authors for calibrating the style score, when present.
DEV_REFERENCE_CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "dev"


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: InkwellConfig

    @classmethod
    def load(cls, root: Path | str) -> Workspace:
        root = Path(root).expanduser().resolve()
        config_path = root / "inkwell.yaml"
        if not config_path.is_file():
            raise WorkspaceError(
                f"{root} is not an Inkwell workspace (no inkwell.yaml); "
                f"create one with `inkwell init {root}`"
            )
        return cls(root=root, config=load_config(config_path))

    # Folders the author owns.
    @property
    def chapters_dir(self) -> Path:
        return self.root / "chapters"

    @property
    def lore_dir(self) -> Path:
        return self.root / "lore"

    # Generated state.
    @property
    def state_dir(self) -> Path:
        return self.root / ".inkwell"

    @property
    def chroma_dir(self) -> Path:
        return self.state_dir / "chroma"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def adapters_dir(self) -> Path:
        return self.state_dir / "adapters"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def reports_dir(self) -> Path:
        return self.state_dir / "reports"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def style_profile_path(self) -> Path:
        """The author profile `inkwell style profile` builds (what best-of sampling scores by)."""
        return self.state_dir / "style" / "profile.json"

    @property
    def registry_path(self) -> Path:
        return self.state_dir / "registry.json"

    @property
    def traces_path(self) -> Path:
        return self.logs_dir / "traces.jsonl"

    def inside(self, path: Path | str) -> Path:
        """Resolve a path (relative to the root) and refuse one that leaves the workspace,
        including through a symlink."""
        candidate = Path(path)
        if candidate.is_absolute():
            raise WorkspaceError(f"{path}: absolute paths are not allowed here")
        resolved = (self.root / candidate).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise WorkspaceError(f"{path}: leaves the workspace {self.root}")
        return resolved

    def chapter_files(self) -> list[Path]:
        """The author's chapters, ordered by file name; symlinks out of the workspace refused."""
        if not self.chapters_dir.is_dir():
            return []
        files = sorted(
            p
            for p in self.chapters_dir.iterdir()
            if p.suffix.lower() in CHAPTER_SUFFIXES and p.is_file()
        )
        return [self.inside(p.relative_to(self.root)) for p in files]

    def held_out_chapters(self) -> list[Path]:
        """Chapters never trained on: those named in book.held_out, else the last 10% (>= 1)."""
        chapters = self.chapter_files()
        named = self.config.book.held_out
        if named:
            by_name = {p.name: p for p in chapters}
            missing = [n for n in named if n not in by_name]
            if missing:
                raise WorkspaceError(
                    f"{self.root / 'inkwell.yaml'}: book.held_out names chapters that do not "
                    f"exist in {self.chapters_dir}: {', '.join(missing)}"
                )
            return [by_name[n] for n in named]
        if not chapters:
            return []
        count = max(1, math.ceil(len(chapters) * 0.1))
        return chapters[-count:]

    def training_chapters(self) -> list[Path]:
        held = set(self.held_out_chapters())
        return [p for p in self.chapter_files() if p not in held]


def init_workspace(root: Path | str, demo: bool = False) -> Workspace:
    """Create the folders of a workspace; with demo=True copy in the demo book.
    Never overwrites an existing workspace's files."""
    root = Path(root).expanduser().resolve()
    if (root / "inkwell.yaml").exists():
        raise WorkspaceError(f"{root} is already an Inkwell workspace")
    for sub in ("chapters", "lore", ".inkwell"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if demo:
        for sub in ("chapters", "lore"):
            for src in sorted((DEMO_BOOK / sub).iterdir()):
                dest = root / sub / src.name
                if not dest.exists():
                    shutil.copy2(src, dest)
        overrides = yaml.safe_load((DEMO_BOOK / "inkwell.yaml").read_text(encoding="utf-8"))
        if DEV_REFERENCE_CORPUS.is_dir():
            overrides.setdefault("style", {})["reference_corpus"] = str(DEV_REFERENCE_CORPUS)
    else:
        overrides = {"book": {"held_out": []}}
    header = "# Overrides of configs/inkwell.yaml for this book.\n"
    (root / "inkwell.yaml").write_text(
        header + yaml.safe_dump(overrides, sort_keys=False), encoding="utf-8"
    )
    return Workspace.load(root)
