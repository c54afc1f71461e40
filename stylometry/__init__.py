"""Stylometry: text features, author profiles, the calibrated 0-100 style score, the LLM judge.

Imports nothing of Inkwell's other packages. Typical use:

    profile = build_profile(training_chapters, "my-book")            # fast or full mode
    profile = calibrate(profile, all_chapters, impostor_texts)       # AUC + threshold
    profile.save(path); profile = AuthorProfile.load(path)
    report = score(text, profile)                                    # StyleReport
    value = stylometric_score(text, profile)     # its 0-100 alone, for ranking candidates
    prompt = describe_style(profile)                                 # training system prompt
"""

from stylometry.calibration import calibrate
from stylometry.copying import without_copied
from stylometry.corpus import load_corpus
from stylometry.describe import describe_style
from stylometry.profile import AuthorProfile, build_profile
from stylometry.score import StyleReport, score, stylometric_score
from stylometry.text import StyleInputError, read_text

__all__ = [
    "AuthorProfile",
    "StyleInputError",
    "StyleReport",
    "build_profile",
    "calibrate",
    "describe_style",
    "load_corpus",
    "read_text",
    "score",
    "stylometric_score",
    "without_copied",
]
