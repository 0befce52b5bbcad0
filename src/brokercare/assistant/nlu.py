"""Intent and emotion models: the trained classifiers plus the finance knowledge around them.

:class:`IntentModel` adds out-of-scope detection to the intent classifier: a second, binary model
(brokerage vs anything else) trained on the same data, and a lexicon gate — a message without a
single finance term whose best intent is weak is not a brokerage question. Unknown topics are
where a multi-class model is most confidently wrong, so this is what keeps "车险怎么理赔" out of
``margin_cost``.

:class:`EmotionModel` combines a trained classifier with the finance cue lexicon
(``emotion_cues.yaml``) and returns an emotion with an intensity in [0, 1].
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import yaml

from brokercare.assistant.classifier import Features, Prediction, TextClassifier
from brokercare.assistant.lexicon import DATA, get_lexicon

OUT_OF_SCOPE = "out_of_scope"
_MONEY = re.compile(r"\d+(?:\.\d+)?\s?(?:万|w|亿|元|块)|[一二两三四五六七八九十百千]+(?:万|亿|块钱|块)")
#: Intents a message may have without any finance vocabulary.
SOCIAL = frozenset({"chitchat", "human_agent", "complaint", "feedback"})


class IntentModel:
    scope_threshold = 0.35
    gate_confidence = 0.5

    def fit(self, texts: list[str], labels: list[str]) -> IntentModel:
        feats = [Features.of(t) for t in texts]
        self.clf = TextClassifier().fit(texts, labels, features=feats)
        self.labels = self.clf.labels
        self.scope = None
        if OUT_OF_SCOPE in labels and len(set(labels)) > 2:
            binary = [OUT_OF_SCOPE if lab == OUT_OF_SCOPE else "in_scope" for lab in labels]
            self.scope = TextClassifier(c=0.3).fit(texts, binary, features=feats)
        return self

    def predict_proba(self, texts: list[str], *, features: list[Features] | None = None) -> Prediction:
        feats = features or [Features.of(t) for t in texts]
        pred = self.clf.predict_proba(texts, features=feats)
        if self.scope is None:
            return pred
        probs = pred.probabilities.copy()
        oos = self.labels.index(OUT_OF_SCOPE)
        scope = self.scope.predict_proba(texts, features=feats)
        p_oos = scope.probabilities[:, scope.labels.index(OUT_OF_SCOPE)]
        lex = get_lexicon()
        social = [self.labels.index(s) for s in SOCIAL if s in self.labels]
        for i, text in enumerate(texts):
            row = probs[i]
            top = int(row.argmax())
            if p_oos[i] > self.scope_threshold and top != oos:
                row *= 1 - p_oos[i]
                row[oos] = max(row[oos], p_oos[i])
            elif (top != oos and top not in social and row[top] < self.gate_confidence
                  and not self._sounds_financial(lex, feats[i].normalised, text)):
                row[oos] = max(row[oos], row[top] + 0.05)
            probs[i] = row / row.sum()
        return Prediction(self.labels, probs)

    @staticmethod
    def _sounds_financial(lex, normalised: str, text: str) -> bool:
        return bool(lex.finance_hits(normalised) or lex.find_names(text) or _MONEY.search(text))

    def predict(self, texts: list[str]) -> list[str]:
        pred = self.predict_proba(texts)
        return [pred.labels[j] for j in pred.probabilities.argmax(axis=1)]


@lru_cache(maxsize=1)
def emotion_cues() -> dict:
    raw = yaml.safe_load(DATA.joinpath("emotion_cues.yaml").read_text("utf-8"))
    raw["cues"] = {emo: {str(k): float(v) for k, v in cues.items()} for emo, cues in raw["cues"].items()}
    raw["intensifiers"] = {str(k): float(v) for k, v in raw.get("intensifiers", {}).items()}
    raw["negations"] = [str(n) for n in raw.get("negations", [])]
    return raw


@dataclass(frozen=True)
class EmotionResult:
    label: str
    intensity: float
    scores: dict[str, float]
    cues: list[str]


class EmotionModel:
    """Trained emotion classifier + finance cues → (emotion, intensity)."""

    calm = "calm"

    def fit(self, texts: list[str], labels: list[str]) -> EmotionModel:
        self.clf = TextClassifier(c=0.4).fit(texts, labels)
        self.labels = self.clf.labels
        return self

    def predict_proba(self, texts: list[str]) -> Prediction:
        return Prediction(self.labels, np.array([[r.scores[lab] for lab in self.labels] for r in self.analyse_many(texts)]))

    def predict(self, texts: list[str]) -> list[str]:
        return [r.label for r in self.analyse_many(texts)]

    def analyse(self, text: str) -> EmotionResult:
        return self.analyse_many([text])[0]

    def analyse_many(self, texts: list[str], *, features: list[Features] | None = None) -> list[EmotionResult]:
        pred = self.clf.predict_proba(texts, features=features)
        return [self._combine(t, pred.probabilities[i]) for i, t in enumerate(texts)]

    def _combine(self, text: str, probs: np.ndarray) -> EmotionResult:
        cfg = emotion_cues()
        # The classifier is sharp on phrasing it has seen; softening it lets a strong finance cue
        # (急死了, 跌惨了) outweigh a confident "calm" learned from neutral question wording.
        soft = np.sqrt(probs)
        soft = soft / soft.sum()
        scores = {lab: float(p) for lab, p in zip(self.labels, soft, strict=True)}
        found: list[str] = []
        cue_strength = 0.0
        negations = tuple(cfg.get("negations", []))
        for emotion, cues in cfg["cues"].items():
            if emotion not in scores:
                continue
            best = 0.0
            for cue, weight in cues.items():
                pos = text.find(cue)
                if pos < 0:
                    continue
                negated = pos > 0 and text[max(0, pos - 2) : pos].endswith(negations) and not cue.startswith(negations)
                if negated:
                    if emotion == "satisfied" and "disappointed" in scores:
                        scores["disappointed"] += weight
                    continue
                best = max(best, float(weight))
                found.append(cue)
            if best:
                scores[emotion] += best
                cue_strength = max(cue_strength, best)
        total = sum(scores.values())
        scores = {k: v / total for k, v in scores.items()}
        label = max(scores, key=scores.get)
        intensity = self._intensity(text, label, scores[label], cue_strength)
        return EmotionResult(label, intensity, {k: round(v, 4) for k, v in scores.items()}, found)

    def _intensity(self, text: str, label: str, p: float, cue_strength: float) -> float:
        if label == self.calm:
            return round(max(0.0, min(0.3, (1 - p) * 0.5)), 2)
        cfg = emotion_cues()
        boost = sum(w for word, w in cfg.get("intensifiers", {}).items() if word in text)
        bangs = len(re.findall(r"[!！]", text))
        repeats = 0.1 if re.search(r"(.)\1\1", text) or re.search(r"(..)\1", text) else 0.0
        value = 0.3 + 0.35 * p + 0.3 * cue_strength + min(boost, 0.3) + min(bangs * 0.07, 0.21) + repeats
        return round(max(0.05, min(1.0, value)), 2)
