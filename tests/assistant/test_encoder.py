"""The shipped sentence encoder: what a caller gets from it, and that it was never shown a test.

The first half runs the real ONNX weights on customer-style Chinese. The second half (issue 15,
item 6) rebuilds the encoder's training data exactly as ``make encoder`` does and checks that no
training sentence equals or nearly equals (character-trigram Jaccard ≥ 0.9) a sentence of the
assistant's evaluation sets, of LCQMC test, or of the held-out ATEC and calibration splits, and
that the training data recorded beside the weights is that data.
"""

from __future__ import annotations

import csv
import importlib
import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from brokercare.assistant.encoder import MODEL_DIR, SentenceEncoder, VectorIndex, get_encoder, units

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the corpus catalogue lives with the training code, outside the package
corpora = importlib.import_module("training.encoder.corpora")
EVAL = ROOT / "src" / "brokercare" / "assistant" / "data" / "eval"


@pytest.fixture(scope="module")
def enc() -> SentenceEncoder:
    return get_encoder()


def test_a_message_becomes_a_unit_vector_whatever_its_form(enc):
    texts = ["花呗怎么还款", "ＥＴＦ能T+0吗？", "", "！！！", "两融" * 200, "rzrq利息多少"]
    vecs = enc.encode(texts)
    assert vecs.shape == (len(texts), enc.dim) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert enc.encode([]).shape == (0, enc.dim)
    assert units("ＥＴＦ能T+0吗？") == ["etf", "能", "t", "0", "吗"]


def test_batching_and_padding_do_not_change_a_vector(enc):
    texts = ["我想把股票账户销户", "转出去的钱两个小时了还没到账", "融资融券的利率是多少", "开户"]
    alone = np.vstack([enc.encode([t]) for t in texts])
    assert np.allclose(enc.encode(texts), alone, atol=1e-5)
    many = texts * 40  # more than one internal batch, sorted by length and put back in order
    assert np.allclose(enc.encode(many, batch_size=16), np.vstack([alone] * 40), atol=1e-5)


# A customer's wording, a paraphrase with few shared characters, and a question that shares words
# but asks something else: the paraphrase must be the closer one.
TRIPLETS = [
    ("怎么注销我的股票账户", "我不想用了，要销户", "怎么开立股票账户"),
    ("花呗怎么还款", "蚂蚁花呗的钱怎么还", "花呗怎么开通"),
    ("银证转账的钱什么时候到账", "转进去的钱多久能到", "银证转账的限额是多少"),
    ("忘记交易密码了怎么办", "交易密码记不起来了", "怎么修改手机号"),
    ("新股中签了怎么缴款", "打新中了要怎么交钱", "新股怎么申购"),
]


@pytest.mark.parametrize(("query", "same", "other"), TRIPLETS)
def test_a_paraphrase_is_closer_than_a_question_sharing_its_words(enc, query, same, other):
    q, s, o = enc.encode([query, same, other])
    assert float(q @ s) > float(q @ o)
    p_same, p_other = enc.same_meaning_probability(np.vstack([q, q]), np.vstack([s, o]))
    assert p_same > p_other


def test_index_returns_the_best_matches_first(enc):
    faq = ["怎么开户", "开户需要什么材料", "怎么销户", "银证转账怎么操作", "转账多久到账", "融资融券怎么开通",
           "两融利率是多少", "新股怎么申购", "中签了怎么缴款", "忘记密码怎么办"]
    index = VectorIndex(enc.encode(faq))
    query = enc.encode(["打新中了咋交钱"])[0]
    rows, scores = index.top_k(query, k=3)
    brute = np.argsort(-(index.vectors @ query), kind="stable")[:3]
    assert list(rows) == list(brute) and np.all(np.diff(scores) <= 0)
    assert faq[rows[0]] == "中签了怎么缴款"
    assert len(index.top_k(query, k=50)[0]) == len(faq)


def test_the_encoder_is_loaded_once_and_safe_to_share_between_threads(enc):
    assert get_encoder() is enc
    texts = ["港股通怎么开通", "佣金能不能再低点", "我的账户被冻结了", "逆回购怎么买"]
    expected = enc.encode(texts)
    results: list[np.ndarray] = []
    workers = [threading.Thread(target=lambda: results.append(enc.encode(texts))) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(results) == 4 and all(np.allclose(r, expected, atol=1e-6) for r in results)


def test_the_shipped_model_is_small_and_says_what_it_was_trained_on():
    assert (MODEL_DIR / "encoder.onnx").stat().st_size <= 30 * 2**20
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text("utf-8"))
    source = (MODEL_DIR / "SOURCE.md").read_text("utf-8")
    for corpus in metrics["training_data"]:
        assert corpus.split(" ")[0] in source, f"{corpus} is not described in SOURCE.md"
    assert metrics["seed"] == corpora.SEED and metrics["steps"] > 0


# ------------------------------------------------------------------ held out means held out


def _eval_sentences(*, with_guard: bool = True) -> list[str]:
    """Every sentence of ``data/eval``; the encoder is scored on all but the guard set, and must
    not have seen that one either."""
    out = []
    sets = [("kb_pairs.csv", ("sentence1", "sentence2")), ("intent_test.csv", ("text",)), ("emotion_test.csv", ("text",))]
    for name, cols in sets + ([("guard_adversarial.csv", ("text",))] if with_guard else []):
        with open(EVAL / name, encoding="utf-8", newline="") as f:
            out += [r[c] for r in csv.DictReader(f) for c in cols]
    return out


def test_near_duplicate_index_agrees_with_a_direct_comparison():
    reference = ["融资融券的利率是多少呢", "怎么开通港股通", "花呗怎么还款", "开户"]
    index = corpora.NearDuplicateIndex(reference)
    probes = ["融资融券的利率是多少呀", "融资融券的利率是多少呢？", "怎么开通创业板", "花呗怎么还", "开户！",
              "融券的费率是多少", "港股通怎么开通"]

    def direct(text: str) -> bool:
        g = corpora.trigrams(text)
        return corpora.norm(text) in {corpora.norm(r) for r in reference} or any(
            len(g & corpora.trigrams(r)) / len(g | corpora.trigrams(r)) >= 0.9 for r in reference)

    assert [index.match(p) for p in probes] == [direct(p) for p in probes]
    assert index.match("融资融券的利率是多少呢？") and not index.match("融券的费率是多少")


@pytest.fixture(scope="module")
def held_out() -> dict[str, list[str]]:
    try:
        return corpora.held_out_sentences()
    except FileNotFoundError as missing:
        pytest.skip(f"public corpora not on this machine ({missing}); see training/encoder/README.md")


def test_the_assistant_eval_sets_are_held_out(held_out):
    index = corpora.NearDuplicateIndex(s for v in held_out.values() for s in v)
    scored = [s for s in _eval_sentences(with_guard=False) if corpora.norm(s)]
    assert all(index.match(s) for s in scored)


def test_own_training_sentences_repeat_no_eval_sentence_after_filtering():
    """The part that needs no public corpus: the FAQ paraphrases, KB pairs and intent/emotion
    sentences the encoder trains on, filtered as training filters them, against data/eval."""
    index = corpora.NearDuplicateIndex(_eval_sentences())
    own = [s for p in corpora.own_pairs() for s in (p.a, p.b)]
    own += [t for f in ("intent_train.csv", "emotion_train.csv") for t, _ in corpora.read_labelled(f)]
    dropped = [s for s in own if index.match(s)]
    assert len(dropped) < 0.1 * len(own)  # the filter removes few rows: the sets were written apart
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text("utf-8"))
    kept = metrics["training_data"]["intent (intent_train.csv)"]["kept"]
    read = metrics["training_data"]["intent (intent_train.csv)"]["read"]
    assert kept < read  # the shipped run did filter


def _shipped_recipe() -> str:
    """The corpus recipe the shipped weights were trained on (``metrics.json``; none named: "base")."""
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text("utf-8"))
    return metrics.get("corpora", "base")


#: The largest recipe holds every corpus of the others: checking it checks them all.
LARGEST = max(corpora.RECIPES, key=lambda r: len(corpora.RECIPES[r]))


def test_the_largest_recipe_holds_every_corpus():
    assert all(set(names) <= set(corpora.RECIPES[LARGEST]) for names in corpora.RECIPES.values())


def _training_data(recipe: str) -> dict:
    try:
        return corpora.training_data(recipe=recipe)
    except FileNotFoundError as missing:
        pytest.skip(f"public corpora not on this machine ({missing}); see training/encoder/README.md")


@pytest.fixture(scope="module")
def training_data():
    return _training_data(_shipped_recipe())


@pytest.fixture(scope="module", params=sorted({"shipped", LARGEST}))
def any_training_data(request, training_data):
    return training_data if request.param == "shipped" else _training_data(request.param)


@pytest.mark.slow
def test_no_training_sentence_equals_or_nearly_equals_a_held_out_one(any_training_data, held_out):
    training_data = any_training_data
    held = {**held_out, "eval_guard": _eval_sentences()}
    assert len(held["lcqmc_test"]) == 25_000 and len(held["atec_test"]) > 7_000
    exact = {corpora.norm(s) for v in held.values() for s in v}
    train = {s for p in training_data["pairs"] for s in (p.a, p.b)}
    train |= {t for rows in training_data["classes"].values() for t, _ in rows}
    assert not [s for s in train if corpora.norm(s) in exact]
    index = corpora.NearDuplicateIndex(s for v in held.values() for s in v)
    near = [s for s in train if index.match(s)]
    assert not near, near[:10]


@pytest.mark.slow
def test_the_shipped_weights_were_trained_on_exactly_this_data(training_data):
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text("utf-8"))
    assert metrics["training_data"] == training_data["report"]
    assert metrics["pairs_total"] == len(training_data["pairs"])
