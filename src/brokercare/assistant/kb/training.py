"""How the matcher learns to fuse its similarities, and the process-wide trained matcher.

The fusion learns from paraphrase/question and paraphrase/paraphrase pairs with mined hard
negatives, from contrast pairs (one term swapped), and from hand-written hard pairs
(``kb_pairs_train.csv``); none of it is taken from ``data/eval``. The match threshold maximises
F1 on out-of-fold fusion scores of those training pairs.
"""

from __future__ import annotations

import threading

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, cross_val_predict

from brokercare.assistant import registry
from brokercare.assistant.classifier import Features, TextClassifier
from brokercare.assistant.encoder import get_encoder
from brokercare.assistant.kb import corpus
from brokercare.assistant.kb.lexical import concept_view
from brokercare.assistant.kb.matching import FEATURES, Encoded, Matcher, probability
from brokercare.assistant.lexicon import DATA

#: Bump when the Matcher's pickled shape changes, so processes stop loading an older cached one.
MATCHER_FORMAT = 4


def train_matcher() -> Matcher:
    """A matcher with its fusion and threshold trained, deterministically, from shipped data."""
    matcher = Matcher()
    texts, labels = corpus.concept_data()
    matcher.fusion, matcher.threshold = fit_fusion(matcher, texts, labels)
    return matcher


def fit_fusion(m: Matcher, texts: list[str], labels: list[str]) -> tuple[LogisticRegression, float]:
    """Train the fusion on pairs built from the concept data (every text out-of-fold, once with
    its concept known to the concept model and once with it unknown) plus contrast and
    hand-written hard pairs; the threshold maximises F1 on out-of-fold fusion scores.

    Hard negatives are mined twice: first the lexically closest questions of other concepts,
    then the ones a fusion trained on those still confuses most. Mining only by lexical
    closeness would teach the fusion that shared words are a trap, and it would then miss a
    broker's imported question that a customer asks in nearly the same words."""
    y_concept = np.asarray(labels)
    faq_rows = np.array([i for i, q in enumerate(texts) if q == labels[i]])
    regimes = []
    for novel in (False, True):
        enc = m.encode(texts, concept=_oof_concepts(m, texts, labels, novel=novel))
        regimes.append((enc, m.features(enc, enc.subset(faq_rows))))
    fixed_x, fixed_y = _fixed_pairs(m, texts, labels, [enc for enc, _f in regimes])
    lexical = [FEATURES.index(n) for n in ("bm25_char", "tfidf", "bm25_word")]
    scorer = None
    for _round in range(2):
        xs, ys = list(fixed_x), list(fixed_y)
        for _enc, f in regimes:
            hardness = f[..., lexical].sum(axis=-1) if scorer is None else probability(scorer, f)
            x, y = _question_pairs(f, y_concept, faq_rows, hardness)
            xs.extend(x)
            ys.extend(y)
        x, y = np.asarray(xs), np.asarray(ys)
        scorer = _fusion_model().fit(x, y)
    oof = cross_val_predict(_fusion_model(), x, y, cv=StratifiedKFold(5, shuffle=True, random_state=7),
                            method="predict_proba")[:, 1]
    return scorer, _best_threshold(oof, y)


def _oof_concepts(m: Matcher, texts: list[str], labels: list[str], *, novel: bool) -> np.ndarray:
    """Concept margins of the concept model's own training texts, each predicted by a model
    that never saw it: the fusion must learn how much to trust the concept of a *new* sentence.
    With ``novel`` the held-out fold is whole concepts, as for a question a broker imported
    that no paraphrase taught the concept model: there only the lexical views can match it."""
    feats = [concept_view(Features.of(t)) for t in texts]
    aux_texts, aux_labels = corpus.answer_openings()
    aux_feats = [concept_view(Features.of(t)) for t in aux_texts]
    out = np.full((len(texts), len(m.concepts.labels)), -1.0)
    col = {lab: j for j, lab in enumerate(m.concepts.labels)}
    y = np.asarray(labels)
    split = (GroupKFold(5).split(texts, groups=labels) if novel
             else KFold(5, shuffle=True, random_state=7).split(texts))
    for train, test in split:
        clf = TextClassifier(c=0.5).fit([texts[i] for i in train] + aux_texts, y[train].tolist() + aux_labels,
                                        features=[feats[i] for i in train] + aux_feats,
                                        temperature=m.concepts.temperature)
        out[np.ix_(test, [col[lab] for lab in clf.labels])] = clf.margins([feats[i] for i in test])
    return out


def _fixed_pairs(m: Matcher, texts: list[str], labels: list[str], encodings: list[Encoded]) -> tuple[list, list]:
    """The pairs every mining round keeps: paraphrase pairs in both concept regimes, contrast pairs
    teaching that one swapped term (转入 → 转出) turns a question into another one, and the
    hand-written hard pairs."""
    xs: list = []
    ys: list = []
    for enc in encodings:
        x, y = _paraphrase_pairs(m, texts, labels, enc)
        xs.extend(x)
        ys.extend(y)
    swapped = corpus.contrast_pairs(texts, limit=1)
    swapped = swapped[:: max(1, len(swapped) // 400)]  # a few hundred: a lesson, not the majority
    if swapped:
        xs.extend(m.pair_features(m.encode([a for a, _b in swapped]), m.encode([b for _a, b in swapped])))
        ys.extend([0] * len(swapped))
    hand = corpus.hand_pairs()
    if hand:
        hf = m.pair_features(m.encode([h[0] for h in hand]), m.encode([h[1] for h in hand]))
        for _ in range(3):  # written to teach exactly the distinctions the generated pairs miss
            xs.extend(hf)
            ys.extend(h[2] for h in hand)
    return xs, ys


def _paraphrase_pairs(m: Matcher, texts: list[str], labels: list[str], enc: Encoded) -> tuple[list, list]:
    """Paraphrase against paraphrase (neither side the FAQ's own wording, as in real use): siblings
    as positives, the closest paraphrases of other concepts by characters as negatives."""
    y_concept = np.asarray(labels)
    a_idx, b_idx, pair_y = [], [], []
    by_concept: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_concept.setdefault(lab, []).append(i)
    for members in by_concept.values():
        paras = [i for i in members if texts[i] != labels[i]]
        for k in range(len(paras) - 1):
            a_idx.append(paras[k])
            b_idx.append(paras[k + 1])
            pair_y.append(1)
    sim = (enc.tfidf @ enc.tfidf.T).toarray()
    sim[y_concept[:, None] == y_concept[None, :]] = -1
    for i in range(len(texts)):
        for j in np.argsort(-sim[i])[:2]:
            a_idx.append(i)
            b_idx.append(int(j))
            pair_y.append(0)
    pf = m.pair_features(enc.subset(np.array(a_idx)), enc.subset(np.array(b_idx)))
    return list(pf), pair_y


def _question_pairs(f: np.ndarray, y_concept: np.ndarray, faq_rows: np.ndarray,
                    hardness: np.ndarray) -> tuple[list, list]:
    """Each text against its FAQ question (positive), the four hardest other questions and two
    random ones (negatives); ``f`` holds every text against every FAQ question."""
    rng = np.random.default_rng(7)
    xs, ys = [], []
    faq_labels = y_concept[faq_rows]
    for i in range(f.shape[0]):
        gold = np.flatnonzero(faq_labels == y_concept[i])
        wrong = np.flatnonzero(faq_labels != y_concept[i])
        if gold.size and faq_rows[gold[0]] != i:
            xs.append(f[i, gold[0]])
            ys.append(1)
        hard = wrong[np.argsort(-hardness[i, wrong])[:4]]
        for j in (*hard, *rng.choice(wrong, 2, replace=False)):
            xs.append(f[i, j])
            ys.append(0)
    return xs, ys


def _fusion_model() -> LogisticRegression:
    return LogisticRegression(C=3.0, class_weight="balanced", max_iter=2000)


def _best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    best, best_f1 = 0.5, -1.0
    for t in np.linspace(0.2, 0.9, 71):
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        fp = float(np.sum(pred & (y == 0)))
        fn = float(np.sum(~pred & (y == 1)))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


#: The matcher in use and the intent model version it was built for.
_matcher: tuple[str, Matcher] | None = None
_matcher_lock = threading.Lock()


def get_matcher() -> Matcher:
    """The process-wide matcher: trained once, deterministically, from shipped data and the active
    intent model, and cached in the data dir so other processes load it instead of training. A
    running process follows a promotion or rollback of the intent model (the weekly retrain runs
    inside the embedded server): the matcher of the version now active is loaded from that cache
    (the job builds it there) the first time it is asked for, so a query's intent view and the
    fusion's come from the same model."""
    global _matcher
    version = _intent_version()
    held = _matcher
    if held is None or held[0] != version:
        with _matcher_lock:
            if _matcher is None or _matcher[0] != version:
                _matcher = (version, _cached_matcher())
            held = _matcher
    return held[1]


def _intent_version() -> str:
    _model, info = registry.load("intent")
    return f"{info.version}|{info.fingerprint}"


def prepare_matcher() -> None:
    """Build (or load) the matcher for the active intent model into the data dir's cache, so the
    workers that start next load it instead of training (after ``nlu retrain`` promoted a model)."""
    _cached_matcher()


def _cached_matcher() -> Matcher:
    _model, info = registry.load("intent")
    key = (f"{MATCHER_FORMAT}|{info.version}|{info.fingerprint}|{len(FEATURES)}"
           f"|{get_encoder().fingerprint}").encode()
    for name in corpus.MATCHER_DATA:
        key += DATA.joinpath(name).read_bytes()
    return registry.cached_build("kb-matcher", key, train_matcher)
