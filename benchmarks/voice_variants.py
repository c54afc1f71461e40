"""Recipe variants side by side (`inkwell bench voice-variants`), at one training budget.

Which recipe writes closest to the author in the same training time? The voice benchmark's
measurement (benchmarks/voice.py: both authors' adapters trained within a budget, then base /
matching / other / own text on each author's yardstick and the gate) for every recipe variant
in `voice.VARIANTS`, at one budget shorter than the voice benchmark's hour, so that the
comparison fits in an afternoon on 2 cores; best-of-n is left out (it is measured on the
chosen recipe). The figures compare recipes; the targets are the voice benchmark's, at its
full budget.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import voice

NAME = "voice_variants"
TITLE = "Recipe variants: the voice per recipe at one training budget"


def run(
    budget_minutes: float = 10.0,
    variants: tuple[str, ...] | None = None,
    prompts: int = 12,
    seeds: tuple[int, ...] = (0,),
    engine_url: str | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Train and score the variants (None: every one); write voice_variants.{json,md} +
    plots."""
    return voice.run(
        budget_minutes=budget_minutes, variants=variants or tuple(voice.VARIANTS),
        prompts=prompts, seeds=seeds, best_of=0, engine_url=engine_url, out_dir=out_dir,
        progress=progress, name=NAME, title=TITLE,
    )  # fmt: skip
