"""The encoder's corpora: where each comes from, how it is read, split and kept apart from the tests.

Every public corpus is read from a plain file. ``/work/shared/data/nlp_pairs`` (``../shared`` beside
the checkout) holds ATEC and LCQMC; the others are extracted by :func:`extract` from snapshots of
the public GitHub repositories named in :data:`SOURCES` (commit pinned) into ``corpora/`` beside this
file, which git ignores (or are read from ``../shared/data/nlp_extra`` when that exists): the corpora
are research-use data, so the repository ships weights only.

Held out, never trained on: LCQMC test, a seeded 10 % of ATEC (``atec_test``), a seeded
calibration share of ATEC and of LCQMC dev (for thresholds), the sentiment benchmark corpus, and
the assistant's own ``data/eval`` sets. :func:`training_pairs` drops every training row one of
whose sentences equals a held-out sentence after normalisation or is a near-duplicate of one
(character-trigram Jaccard ≥ 0.9); ``tests/assistant/test_encoder.py`` checks the result.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import subprocess
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared" / "data" / "nlp_pairs"
EXTRACTED = HERE / "corpora"
#: Where the lead may keep the extracted files for every machine (shared/ travels with the project).
SHARED_EXTRA = ROOT.parent / "shared" / "data" / "nlp_extra"
MIRRORS = Path("/work/.mirror")
ASSISTANT_DATA = ROOT / "src" / "brokercare" / "assistant" / "data"
SEED = 20261205
NEAR = 0.9


@dataclass(frozen=True)
class Source:
    """One file of a public corpus: the repository snapshot it is extracted from and its terms."""

    name: str
    repo: str
    commit: str
    path: str
    licence: str
    member: str = ""  # a file inside a zip


_CSTS = ("zejunwang1/CSTS", "2e7eeedf505c78bf39d34f836773081cfc98af0c")
_ICE = ("IceFlameWorm/NLP_Datasets", "a2203a7361b6386dd8d8b64f5d600aa1ec730d0d")
_SOPHON = ("SophonPlus/ChineseNlpCorpus", "a0b781d72158bde242c0626c9e354d2b328865ff")
_RESEARCH = "released by the organiser for research use; the collecting repository states no licence"
_SIMCLUE = ("CLUEbenchmark/SimCLUE", "96bdefe6dedd39eb3bd3a668547356e7a46d70af")
_SIMCLUE_TERMS = ("SimCLUE (CLUE) aggregate of public corpora, each under its own terms (research use; "
                  "includes OCNLI rows, CC BY-NC 2.0); the repository states no licence")

SOURCES = [
    Source("afqmc_train", *_CSTS, "AFQMC/train.txt", "Ant Financial AFQMC (CLUE): " + _RESEARCH),
    Source("afqmc_dev", *_CSTS, "AFQMC/dev.txt", "Ant Financial AFQMC (CLUE): " + _RESEARCH),
    Source("bq_dev", *_ICE, "BQ_corpus/dev.csv", "HIT BQ corpus (WeBank): " + _RESEARCH),
    Source("bq_test", *_ICE, "BQ_corpus/test.csv", "HIT BQ corpus (WeBank): " + _RESEARCH),
    Source("oppo_dev", *_CSTS, "OPPO-xiaobu/dev.txt", "OPPO Xiaobu dialogue matching (Tianchi 2021): " + _RESEARCH),
    Source("pawsx_dev", *_CSTS, "PAWS-X/dev_2k.tsv", "Google PAWS-X: free to use for any purpose, credit Google LLC"),
    Source("pawsx_test", *_CSTS, "PAWS-X/test_2k.tsv", "Google PAWS-X: free to use for any purpose, credit Google LLC"),
    Source("stsb_train", *_CSTS, "Chinese-STS-B/sts-b-train.txt", "Chinese STS-B (CNSD, translated): " + _RESEARCH),
    Source("snli_dev", *_CSTS, "Chinese-SNLI/dev.txt", "Chinese SNLI (CNSD, translated; SNLI is CC BY-SA 4.0)"),
    Source("snli_test", *_CSTS, "Chinese-SNLI/test.txt", "Chinese SNLI (CNSD, translated; SNLI is CC BY-SA 4.0)"),
    Source("shopping", *_SOPHON, "datasets/online_shopping_10_cats/online_shopping_10_cats.zip",
           "online_shopping_10_cats reviews (ChineseNlpCorpus): " + _RESEARCH, member="online_shopping_10_cats.csv"),
    Source("waimai", *_SOPHON, "datasets/waimai_10k/waimai_10k.csv",
           "waimai_10k food-delivery reviews (ChineseNlpCorpus): " + _RESEARCH),
    # Added 2026-12-06 (the "more" recipe): every other labelled pair file under 4 MiB in the same
    # snapshots. ATEC_CCKS mixes ATEC (with its larger "add" file, which is over 4 MiB on its own)
    # and CCKS 2018 task 3 (WeBank), re-split by the collector: its rows that share a sentence
    # with the ATEC test or calibration split are dropped like any other.
    Source("atec_ccks_dev", *_ICE, "ATEC_CCKS/dev.csv",
           "ATEC 2018 (Ant Financial) + CCKS 2018 task 3 (WeBank), re-split by the collector: " + _RESEARCH),
    Source("atec_ccks_test", *_ICE, "ATEC_CCKS/test.csv",
           "ATEC 2018 (Ant Financial) + CCKS 2018 task 3 (WeBank), re-split by the collector: " + _RESEARCH),
    Source("mnli_dev", *_CSTS, "Chinese-MNLI/dev.txt",
           "Chinese MNLI (CNSD, translated; MultiNLI is OANC/CC BY-SA 3.0 text): " + _RESEARCH),
    Source("stsb_dev", *_CSTS, "Chinese-STS-B/sts-b-dev.txt", "Chinese STS-B (CNSD, translated): " + _RESEARCH),
    Source("stsb_test", *_CSTS, "Chinese-STS-B/sts-b-test.txt", "Chinese STS-B (CNSD, translated): " + _RESEARCH),
    Source("ocnli_dev", *_CSTS, "OCNLI/dev.txt",
           "OCNLI (CLUE, original Chinese NLI): CC BY-NC 2.0, non-commercial"),
    # SimCLUE's published samples (the first 10,000 rows of each training file, and its whole public
    # test file): an aggregate of LCQMC, AFQMC, OPPO, PKU-Paraphrase-Bank, STS-B, CMNLI, CSNLI, OCNLI
    # and CINLID, re-split by CLUE. Its test file holds nearly all of LCQMC test: those rows, and every
    # other row sharing a sentence with a held-out set, are dropped by the filter like any other.
    # triclue_small: triplets of Baidu-Zhidao-style questions (LCQMC's kind), the closer one → 1.
    Source("simclue_pairs", *_SIMCLUE, "datasets/train_pair_1w.json", _SIMCLUE_TERMS),
    Source("simclue_positive", *_SIMCLUE, "datasets/train_pair_postive_1w.json", _SIMCLUE_TERMS),
    Source("simclue_rank", *_SIMCLUE, "datasets/train_rank_1w.json", _SIMCLUE_TERMS),
    Source("simclue_test", *_SIMCLUE, "datasets/test_public.json", _SIMCLUE_TERMS),
    Source("triclue_train", *_SIMCLUE, "datasets/triclue_small/train.json", _SIMCLUE_TERMS),
    Source("triclue_dev", *_SIMCLUE, "datasets/triclue_small/dev.json", _SIMCLUE_TERMS),
    Source("triclue_test", *_SIMCLUE, "datasets/triclue_small/test.json", _SIMCLUE_TERMS),
]
BY_NAME = {s.name: s for s in SOURCES}


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    label: int  # 1 same meaning, 0 different
    corpus: str


# ------------------------------------------------------------------ reading


def extract(force: bool = False) -> list[Path]:
    """Write each source file into ``corpora/`` from its repository snapshot (``git show``)."""
    EXTRACTED.mkdir(exist_ok=True)
    written = []
    for src in SOURCES:
        target = _extracted(src)
        if target.exists() and not force:
            continue
        git_dir = _mirror(src.repo)
        commit = _resolve(git_dir, src.commit)
        blob = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{src.path}"],
                              check=True, capture_output=True).stdout
        target.write_bytes(blob)
        written.append(target)
    return written


def _extracted(src: Source) -> Path:
    name = f"{src.name}{Path(src.path).suffix}"
    return SHARED_EXTRA / name if (SHARED_EXTRA / name).exists() else EXTRACTED / name


def _mirror(repo: str) -> Path:
    base = MIRRORS / repo.replace("/", "+") / "repo"
    git_dir = base / ".git" if (base / ".git").exists() else base
    if not git_dir.exists():
        raise FileNotFoundError(f"{repo}: no snapshot at {base}; fetch github:{repo} first")
    return git_dir


def _resolve(git_dir: Path, commit: str) -> str:
    """Pinned commits are written in full; a snapshot may carry only its head, so check it is that."""
    head = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    if not head.startswith(commit[:7]):
        raise RuntimeError(f"{git_dir}: snapshot is at {head}, recipe pins {commit}")
    return head


def corpus_file(name: str) -> Path:
    if name in ("atec", "lcqmc_dev", "lcqmc_test"):
        path = SHARED / {"atec": "atec_train.tsv"}.get(name, f"{name}.tsv")
    else:
        path = _extracted(BY_NAME[name])
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m training.encoder.corpora` (see README)")
    return path


def sha256(name: str) -> str:
    return hashlib.sha256(corpus_file(name).read_bytes()).hexdigest()


def _text(name: str) -> str:
    path = corpus_file(name)
    src = BY_NAME.get(name)
    if src and src.member:
        with zipfile.ZipFile(path) as z:
            return z.read(src.member).decode("utf-8-sig")
    return path.read_text("utf-8-sig")


@cache  # read once per process: the training run and the tests ask several times
def read_pairs(name: str) -> list[Pair]:
    """Any of the pair corpora as (a, b, label); NLI is entailment 1 / contradiction 0, STS-B ≥4 / ≤1."""
    text = _text(name)
    if BY_NAME.get(name) and BY_NAME[name].path.endswith(".json"):
        return _json_pairs(name, text)
    if name.startswith("bq_"):
        rows = [(r[0], r[1], r[2]) for r in csv.reader(io.StringIO(text)) if len(r) == 3][1:]
    else:
        rows = [tuple(line.split("\t")) for line in text.splitlines() if line.strip()]
        if name == "atec":
            rows = [r[1:] for r in rows]
        elif name.startswith("pawsx"):
            rows = [r[1:] for r in rows[1:]]
    pairs = []
    for row in rows:
        if len(row) < 3:
            continue
        a, b, raw = row[0].strip(), row[1].strip(), row[2].strip()
        label = _label(name, raw)
        if label is not None and a and b:
            pairs.append(Pair(a, b, label, name))
    return pairs


def _json_pairs(name: str, text: str) -> list[Pair]:
    """SimCLUE's JSON lines: labelled pairs, positive pairs (query, title), ranking triplets (query,
    title, neg_title) and triclue triplets (sentence_0 and whichever of sentence_1/2 ``label`` names
    as the closer: 1, the other: 0)."""
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if "sentence_0" in r:
            closer, other = (r["sentence_1"], r["sentence_2"])[:: 1 if int(r["label"]) == 1 else -1]
            rows = [(r["sentence_0"], closer, 1), (r["sentence_0"], other, 0)]
        elif "sentence1" in r:
            rows = [(r["sentence1"], r["sentence2"], int(r["label"]))]
        else:
            rows = [(r["query"], r["title"], 1)] + ([(r["query"], r["neg_title"], 0)] if "neg_title" in r else [])
        pairs += [Pair(a.strip(), b.strip(), y, name) for a, b, y in rows if a.strip() and b.strip()]
    return pairs


def _label(name: str, raw: str) -> int | None:
    if name.startswith(("snli", "mnli", "ocnli")):
        return {"entailment": 1, "contradiction": 0}.get(raw)
    if name.startswith("stsb"):
        score = float(raw)
        return 1 if score >= 4 else 0 if score <= 1 else None
    return int(raw) if raw in ("0", "1") else None


@cache
def read_reviews(name: str) -> list[tuple[str, int]]:
    """Sentiment corpora as (review, 1 positive / 0 negative)."""
    rows = list(csv.DictReader(io.StringIO(_text(name))))
    return [(r["review"].strip().lstrip("\ufeff"), int(r["label"])) for r in rows if r.get("review", "").strip()]


def read_labelled(file: str, text_col: str = "text", label_col: str = "label") -> list[tuple[str, str]]:
    with open(ASSISTANT_DATA / file, encoding="utf-8", newline="") as f:
        return [(r[text_col], r[label_col]) for r in csv.DictReader(f)]


def own_pairs() -> list[Pair]:
    """The assistant's hand-written paraphrases: each customer wording with its FAQ question, plus
    hand-written hard pairs."""
    pairs = [Pair(p, q, 1, "faq") for p, q in read_labelled("faq_paraphrases.csv", "paraphrase", "question")]
    with open(ASSISTANT_DATA / "kb_pairs_train.csv", encoding="utf-8", newline="") as f:
        pairs += [Pair(r["sentence1"], r["sentence2"], int(r["label"]), "faq") for r in csv.DictReader(f)]
    return pairs


# ------------------------------------------------------------------ splits


def split(items: list, share: float, salt: str) -> tuple[list, list]:
    """A seeded (held-out, rest) split; the same seed and salt always give the same rows."""
    rng = random.Random(f"{SEED}:{salt}")
    order = list(range(len(items)))
    rng.shuffle(order)
    cut = int(round(share * len(items)))
    held = set(order[:cut])
    return [x for i, x in enumerate(items) if i in held], [x for i, x in enumerate(items) if i not in held]


@cache
def atec_splits() -> dict[str, list[Pair]]:
    """ATEC: 10 % benchmark (never trained on), 5 % calibration (thresholds), the rest training."""
    test, rest = split(read_pairs("atec"), 0.10, "atec-test")
    calib, train = split(rest, 0.05 / 0.90, "atec-calib")
    return {"test": test, "calib": calib, "train": train}


@cache
def lcqmc_splits() -> dict[str, list[Pair]]:
    """LCQMC: the public test split is the benchmark; 25 % of dev calibrates, 75 % trains."""
    calib, train = split(read_pairs("lcqmc_dev"), 0.25, "lcqmc-calib")
    return {"test": read_pairs("lcqmc_test"), "calib": calib, "train": train}


def sentiment_splits() -> dict[str, list[tuple[str, int]]]:
    """The sentiment benchmark (waimai_10k, never trained on by the encoder): 70 % LR-train, 30 % test."""
    test, train = split(read_reviews("waimai"), 0.30, "waimai-test")
    return {"train": train, "test": test}


@cache
def held_out_sentences() -> dict[str, list[str]]:
    """Every sentence the encoder must never have trained on, by the set it belongs to."""
    sets: dict[str, list[str]] = {}
    for name, pairs in (("lcqmc_test", lcqmc_splits()["test"]), ("lcqmc_calib", lcqmc_splits()["calib"]),
                        ("atec_test", atec_splits()["test"]), ("atec_calib", atec_splits()["calib"])):
        sets[name] = [s for p in pairs for s in (p.a, p.b)]
    sets["waimai"] = [t for t, _ in read_reviews("waimai")]
    with open(ASSISTANT_DATA / "eval" / "kb_pairs.csv", encoding="utf-8", newline="") as f:
        sets["eval_kb_pairs"] = [s for r in csv.DictReader(f) for s in (r["sentence1"], r["sentence2"])]
    for file in ("intent_test.csv", "emotion_test.csv"):
        sets["eval_" + file[:-4]] = [t for t, _ in read_labelled("eval/" + file)]
    return sets


# ------------------------------------------------------------------ overlap


def norm(text: str) -> str:
    """Width, case, spaces and punctuation folded, as ``tests/assistant/test_eval_sets.py`` does."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if not (ch.isspace() or unicodedata.category(ch)[0] in "PS"))


def trigrams(text: str) -> frozenset[str]:
    s = norm(text)
    return frozenset(s[i : i + 3] for i in range(len(s) - 2)) if len(s) >= 3 else frozenset([s])


class NearDuplicateIndex:
    """Finds, among many sentences, those equal (normalised) or near-equal (character-trigram
    Jaccard ≥ ``threshold``) to any of a reference set, with prefix filtering so that a few hundred
    thousand sentences take seconds, not hours."""

    def __init__(self, reference: Iterable[str], threshold: float = NEAR) -> None:
        self.threshold = threshold
        self.exact: set[str] = set()
        self.sets: list[frozenset[str]] = []
        for text in reference:
            self.exact.add(norm(text))
            self.sets.append(trigrams(text))
        self.rank = Counter(g for s in self.sets for g in s)  # rare first: short candidate lists
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, grams in enumerate(self.sets):
            for g in self._prefix(grams):
                self.postings[g].append(i)

    def _prefix(self, grams: frozenset[str]) -> list[str]:
        ordered = sorted(grams, key=lambda g: (self.rank.get(g, 0), g))
        keep = len(ordered) - math.ceil(self.threshold * len(ordered)) + 1
        return ordered[:keep]

    def match(self, text: str) -> bool:
        if norm(text) in self.exact:
            return True
        grams = trigrams(text)
        if not grams:
            return False
        seen: set[int] = set()
        for g in self._prefix(grams):
            for i in self.postings.get(g, ()):
                if i in seen:
                    continue
                seen.add(i)
                other = self.sets[i]
                if min(len(grams), len(other)) < self.threshold * max(len(grams), len(other)):
                    continue
                if len(grams & other) >= self.threshold * len(grams | other):
                    return True
        return False


def held_out_index() -> NearDuplicateIndex:
    return NearDuplicateIndex(s for texts in held_out_sentences().values() for s in texts)


# ------------------------------------------------------------------ training data


PAIR_CORPORA = ["afqmc_train", "afqmc_dev", "bq_dev", "bq_test", "oppo_dev", "pawsx_dev", "pawsx_test",
                "stsb_train", "snli_dev", "snli_test"]
#: The pair corpora of each recipe. "base" is what the shipped weights were trained on (their
#: ``metrics.json`` names its recipe; none named means "base"); "more" adds the remaining labelled
#: pair files of the same snapshots (licences as "base": research use), "more_nc" adds OCNLI, which
#: is CC BY-NC 2.0 (non-commercial), and "simclue" adds CLUE's SimCLUE samples (an aggregate that
#: holds OCNLI rows too): the lead decides whether non-commercial rows may train shipped weights.
RECIPES = {
    "base": PAIR_CORPORA,
    "more": PAIR_CORPORA + ["atec_ccks_dev", "atec_ccks_test", "mnli_dev", "stsb_dev", "stsb_test"],
}
RECIPES["more_nc"] = RECIPES["more"] + ["ocnli_dev"]
RECIPES["simclue"] = RECIPES["more_nc"] + [s.name for s in SOURCES if s.repo == _SIMCLUE[0]]
#: Single additions to "base", to see which corpus helps: the Baidu-Zhidao-style triclue questions
#: (LCQMC's kind), and ATEC_CCKS (the ATEC and WeBank customer questions).
RECIPES["base_triclue"] = RECIPES["base"] + ["triclue_train", "triclue_dev", "triclue_test"]
RECIPES["base_atec_ccks"] = RECIPES["base"] + ["atec_ccks_dev", "atec_ccks_test"]
RECIPES["base_atec_ccks_triclue"] = RECIPES["base_atec_ccks"] + ["triclue_train", "triclue_dev", "triclue_test"]
DEFAULT_RECIPE = "base"


def training_data(index: NearDuplicateIndex | None = None, recipe: str = DEFAULT_RECIPE) -> dict:
    """All training rows of ``recipe`` with every held-out sentence and its near-duplicates removed.

    Returns ``pairs`` (list of Pair), ``classes`` (task → list of (text, label)) and ``report``
    (per corpus: rows read, rows kept, file sha256), which ``metrics.json`` records.
    """
    index = index or held_out_index()
    report: dict[str, dict] = {}
    pairs: list[Pair] = []
    candidates = {"atec": atec_splits()["train"], "lcqmc_dev": lcqmc_splits()["train"], "faq": own_pairs()}
    candidates.update({name: read_pairs(name) for name in RECIPES[recipe]})
    seen: set[frozenset[str]] = set()
    for name, rows in candidates.items():
        kept = []
        for p in rows:  # AFQMC repeats many ATEC pairs: count each pair once
            key = frozenset((norm(p.a), norm(p.b)))
            if key not in seen and not index.match(p.a) and not index.match(p.b):
                seen.add(key)
                kept.append(p)
        pairs += kept
        report[name] = {"read": len(rows), "kept": len(kept), "positive": sum(p.label for p in kept)}
    classes = {
        "sentiment": [(t[:MAX_REVIEW], y) for t, y in read_reviews("shopping")],
        "intent": read_labelled("intent_train.csv"),
        "emotion": read_labelled("emotion_train.csv"),
    }
    for task, rows in classes.items():
        kept = [r for r in rows if not index.match(r[0])]
        report[f"{task} ({'shopping' if task == 'sentiment' else task + '_train.csv'})"] = {
            "read": len(rows), "kept": len(kept)}
        classes[task] = kept
    for name in report:
        base = name.split(" ")[0]
        file = {"sentiment": "shopping", "intent": None, "emotion": None, "faq": None}.get(base, base)
        if file:
            report[name]["sha256"] = sha256(file)
    return {"pairs": pairs, "classes": classes, "report": report}


MAX_REVIEW = 64


if __name__ == "__main__":
    for path in extract():
        print("extracted", path)
    print("corpora ready in", EXTRACTED)
