"""Format checks for the independent evaluation sets in ``assistant/data/eval``.

These sets are the yardstick for the assistant's models, so a malformed row, a label that drifted
from the taxonomy, or the same sentence counted twice would silently distort every score. The
checks read only the CSV files and ``intents.yaml``; they do not touch any model.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).resolve().parents[2] / "src" / "brokercare" / "assistant" / "data"
EVAL = DATA / "eval"

EMOTIONS = {"calm", "anxious", "angry", "disappointed", "satisfied"}
ATTACKS = {
    "promise_return",
    "guarantee_capital",
    "above_suitability",
    "leak_other_customer",
    "unlicensed_advice",
    "insider_info",
}
HAN = re.compile(r"[\u4e00-\u9fff]")


def _taxonomy() -> dict:
    with open(DATA / "intents.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def _rows(name: str, header: list[str]) -> list[dict[str, str]]:
    path = EVAL / name
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == header, f"{name}: header {reader.fieldnames}, expected {header}"
        rows = list(reader)
    for i, row in enumerate(rows, start=2):
        assert None not in row, f"{name} line {i}: more fields than the header"
        for key in header:
            value = row[key]
            assert value is not None and value.strip(), f"{name} line {i}: empty {key}"
            assert value == value.strip(), f"{name} line {i}: {key} has surrounding whitespace"
    return rows


def _norm(text: str) -> str:
    """Fold width, case, spaces and punctuation: '转人工！' and '转人工', 'ETF' and 'etf' are one sentence."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if not (ch.isspace() or unicodedata.category(ch).startswith("P")))


def _duplicates(texts: list[str]) -> list[str]:
    counts = Counter(_norm(t) for t in texts)
    return sorted(t for t, c in counts.items() if c > 1)


# ---------------------------------------------------------------- intents


@pytest.fixture(scope="module")
def intent_rows() -> list[dict[str, str]]:
    return _rows("intent_test.csv", ["text", "label"])


def test_every_taxonomy_intent_has_at_least_15_test_sentences(intent_rows):
    counts = Counter(r["label"] for r in intent_rows)
    short = {label: counts[label] for label in _taxonomy()["intents"] if counts[label] < 15}
    assert not short, f"intents with fewer than 15 test sentences: {short}"


def test_intent_labels_all_belong_to_the_taxonomy(intent_rows):
    known = set(_taxonomy()["intents"])
    unknown = sorted({r["label"] for r in intent_rows} - known)
    assert not unknown, f"labels not in intents.yaml: {unknown}"


def test_intent_sentences_are_unique(intent_rows):
    assert not _duplicates([r["text"] for r in intent_rows])


def test_intent_sentences_are_chinese_customer_messages(intent_rows):
    without_han = [r["text"] for r in intent_rows if not HAN.search(r["text"])]
    # A few customers type only pinyin initials or English ("rg", "hi"); keep that rare.
    assert len(without_han) <= 0.01 * len(intent_rows), without_han
    too_long = [r["text"] for r in intent_rows if len(r["text"]) > 200]
    assert not too_long


def test_out_of_scope_set_is_broad(intent_rows):
    counts = Counter(r["label"] for r in intent_rows)
    assert counts["out_of_scope"] >= 30
    assert counts["chitchat"] >= 15


# ---------------------------------------------------------------- emotions


@pytest.fixture(scope="module")
def emotion_rows() -> list[dict[str, str]]:
    return _rows("emotion_test.csv", ["text", "label"])


def test_emotion_labels_match_the_taxonomy_and_each_has_40(emotion_rows):
    assert set(_taxonomy()["emotions"]) == EMOTIONS
    counts = Counter(r["label"] for r in emotion_rows)
    assert set(counts) == EMOTIONS, set(counts) ^ EMOTIONS
    assert min(counts.values()) >= 40, counts


def test_emotion_sentences_are_unique(emotion_rows):
    assert not _duplicates([r["text"] for r in emotion_rows])


def test_the_spec_example_is_labelled_anxious(emotion_rows):
    labels = {r["text"]: r["label"] for r in emotion_rows}
    assert labels.get("最近股市跌惨了，我该怎么办？") == "anxious"


# ---------------------------------------------------------------- knowledge-base pairs


@pytest.fixture(scope="module")
def pair_rows() -> list[dict[str, str]]:
    return _rows("kb_pairs.csv", ["sentence1", "sentence2", "label"])


def test_pairs_have_binary_labels_and_are_roughly_balanced(pair_rows):
    labels = [r["label"] for r in pair_rows]
    assert set(labels) <= {"0", "1"}
    assert len(pair_rows) >= 300
    share = labels.count("1") / len(labels)
    assert 0.35 <= share <= 0.55, f"positive share {share:.2f}"


def test_pairs_are_unique_and_never_pair_a_sentence_with_itself(pair_rows):
    keys = Counter(frozenset((_norm(r["sentence1"]), _norm(r["sentence2"]))) for r in pair_rows)
    assert not [k for k, c in keys.items() if c > 1]
    assert not [r for r in pair_rows if _norm(r["sentence1"]) == _norm(r["sentence2"])]


def test_pair_set_contains_hard_negatives_sharing_words(pair_rows):
    """Negatives that share most characters are what separates a matcher from keyword overlap."""

    def overlap(a: str, b: str) -> float:
        sa, sb = set(_norm(a)), set(_norm(b))
        return len(sa & sb) / max(1, min(len(sa), len(sb)))

    hard = [r for r in pair_rows if r["label"] == "0" and overlap(r["sentence1"], r["sentence2"]) >= 0.6]
    assert len(hard) >= 60, len(hard)


# ---------------------------------------------------------------- guard


def test_guard_set_covers_every_attack_kind():
    rows = _rows("guard_adversarial.csv", ["text", "attack"])
    counts = Counter(r["attack"] for r in rows)
    assert set(counts) == ATTACKS, set(counts) ^ ATTACKS
    assert len(rows) >= 80
    assert min(counts.values()) >= 10, counts
    assert not _duplicates([r["text"] for r in rows])


def test_the_sets_do_not_share_sentences_with_each_other():
    """An emotion or guard sentence reused as an intent sentence is fine only if deliberate; keep
    the guard set disjoint so its pass rate is not inflated by intent-set tuning."""
    intents = {_norm(r["text"]) for r in _rows("intent_test.csv", ["text", "label"])}
    guard = {_norm(r["text"]) for r in _rows("guard_adversarial.csv", ["text", "attack"])}
    assert not intents & guard


# ---------------------------------------------------------------- independence from training data

# The SPEC's own example must be in the emotion test set; the training set may carry it too.
SPEC_EXAMPLES = {"最近股市跌惨了，我该怎么办？"}


@pytest.mark.parametrize(
    ("train_name", "test_name"),
    [("intent_train.csv", "intent_test.csv"), ("emotion_train.csv", "emotion_test.csv")],
)
def test_no_test_sentence_is_also_a_training_sentence(train_name, test_name):
    """A sentence in both sets measures memory, not understanding; keep them disjoint."""
    train_path = DATA / train_name
    if not train_path.exists():
        pytest.skip(f"{train_name} is not shipped in this checkout")
    with open(train_path, encoding="utf-8", newline="") as f:
        train = {_norm(r["text"]) for r in csv.DictReader(f)}
    exempt = {_norm(t) for t in SPEC_EXAMPLES}
    test = [r["text"] for r in _rows(test_name, ["text", "label"])]
    shared = sorted(t for t in test if _norm(t) in train and _norm(t) not in exempt)
    assert not shared, f"{len(shared)} {test_name} sentences also appear in {train_name}: {shared[:10]}"


def _bigrams(text: str) -> set[str]:
    s = _norm(text)
    return {s[i : i + 2] for i in range(len(s) - 1)}


@pytest.mark.parametrize(
    ("train_name", "columns"),
    [("faq_paraphrases.csv", ("paraphrase",)), ("kb_pairs_train.csv", ("sentence1", "sentence2"))],
)
def test_knowledge_base_training_sentences_are_not_eval_pair_sentences(train_name, columns):
    """The matcher's training paraphrases and pairs must neither repeat an evaluation sentence nor
    differ from one by a character or two (bigram Jaccard ≥ 0.8)."""
    with open(DATA / train_name, encoding="utf-8", newline="") as f:
        train = [r[c] for r in csv.DictReader(f) for c in columns]
    held_out = [s for r in _rows("kb_pairs.csv", ["sentence1", "sentence2", "label"]) for s in (r["sentence1"], r["sentence2"])]
    exact = {_norm(s) for s in held_out}
    grams = [_bigrams(s) for s in held_out]
    close = [t for t in train if _norm(t) in exact
             or any(len(_bigrams(t) & g) / max(1, len(_bigrams(t) | g)) >= 0.8 for g in grams)]
    assert not close, f"{len(close)} {train_name} sentences repeat kb_pairs.csv: {close[:10]}"
