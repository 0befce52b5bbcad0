"""Train the sentence encoder and write what the assistant ships: ``python -m training.encoder.train``.

Objectives, summed each step over one batch of labelled pairs and one of labelled texts:

* CoSENT over the batch's pairs: every same-meaning pair must score a higher cosine than every
  different-meaning pair (the labelled negatives share most of their words: hard negatives);
* in-batch InfoNCE over the same-meaning pairs (each sentence against all partners in the batch);
* the pair head (binary cross-entropy), which the assistant uses for the same-meaning decision;
* linear heads for sentiment (online-shopping reviews), intent and emotion (the assistant's own
  training sentences), so the vector also carries what a customer wants and how they feel.

Everything is seeded and single-process; a fixed number of steps (not a time limit) ends training,
so the same corpora give the same weights. With ``--check-every N`` the model is scored on the
held-out calibration splits (never a test split) every N steps and the best checkpoint is exported.
See README.md for the recipe and the time it takes.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from brokercare.assistant.encoder import MAX_UNITS, MODEL_DIR, units
from training.encoder import corpora
from training.encoder.model import Encoder, PairHead, Shape, export_onnx

MIN_CHAR_COUNT = 2
MIN_BIGRAM_COUNT = 3
MAX_BIGRAMS = 60_000
#: Training reads at most this many units of a text (the runtime reads MAX_UNITS): long PAWS-X and
#: review texts cost the most and teach the least about short customer questions.
TRAIN_UNITS = 40


def build_vocab(texts: list[str]) -> tuple[list[str], list[str]]:
    """Units seen twice and the most frequent bigrams; the assistant's own data always counts."""
    unit_counts: Counter[str] = Counter()
    bigram_counts: Counter[str] = Counter()
    for t in texts:
        seq = units(t)
        unit_counts.update(seq)
        bigram_counts.update(f"{a} {b}" for a, b in zip(seq, seq[1:], strict=False))
    chars = sorted(u for u, c in unit_counts.items() if c >= MIN_CHAR_COUNT)
    frequent = [b for b, c in bigram_counts.most_common(MAX_BIGRAMS) if c >= MIN_BIGRAM_COUNT]
    return chars, sorted(frequent)


class Batcher:
    """Turns texts into padded id tensors with the shipped vocabulary (the runtime's own mapping)."""

    def __init__(self, chars: list[str], bigrams: list[str]) -> None:
        self.char_ids = {u: i + 2 for i, u in enumerate(chars)}
        self.bigram_ids = {b: i + 1 for i, b in enumerate(bigrams)}
        self.cache: dict[str, tuple[list[int], list[int]]] = {}

    def ids(self, text: str) -> tuple[list[int], list[int]]:
        hit = self.cache.get(text)
        if hit is None:
            seq = units(text)[:TRAIN_UNITS] or ["?"]
            c = [self.char_ids.get(u, 1) for u in seq]
            b = [self.bigram_ids.get(f"{x} {y}", 0) for x, y in zip(seq, seq[1:], strict=False)] + [0]
            hit = self.cache[text] = (c, b)
        return hit

    def tensors(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.ids(t) for t in texts]
        width = max(len(c) for c, _ in rows)
        chars = torch.zeros((len(rows), width), dtype=torch.int64)
        bigrams = torch.zeros((len(rows), width), dtype=torch.int64)
        for i, (c, b) in enumerate(rows):
            chars[i, : len(c)] = torch.tensor(c)
            bigrams[i, : len(b)] = torch.tensor(b)
        return chars, bigrams


def cosent(cos: torch.Tensor, labels: torch.Tensor, scale: float = 20.0) -> torch.Tensor:
    """log(1 + Σ exp(s·(cos_neg − cos_pos))) over every (positive, negative) pair of the batch."""
    diff = scale * (cos[None, :] - cos[:, None])  # [i, j] = s(cos_j - cos_i)
    valid = (labels[:, None] > labels[None, :])  # i positive, j negative
    diff = diff.masked_fill(~valid, -1e4)
    return torch.logsumexp(torch.cat([torch.zeros(1), diff.flatten()]), dim=0)


def info_nce(u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    pos = labels.bool()
    if pos.sum() < 2:
        return torch.zeros(())
    logits = u[pos] @ v.T / temperature  # every partner in the batch (negatives' too) competes
    target = torch.nonzero(pos).squeeze(-1)
    back = v[pos] @ u.T / temperature
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(back, target))


class Trainer:
    def __init__(self, data: dict, shape_kw: dict, seed: int) -> None:
        texts = [s for p in data["pairs"] for s in (p.a, p.b)]
        texts += [t for rows in data["classes"].values() for t, _ in rows]
        self.char_vocab, self.bigram_vocab = build_vocab(texts)
        self.batcher = Batcher(self.char_vocab, self.bigram_vocab)
        self.shape = Shape(chars=len(self.char_vocab) + 2, bigrams=len(self.bigram_vocab) + 1, **shape_kw)
        torch.manual_seed(seed)
        self.rng = random.Random(seed)
        self.encoder = Encoder(self.shape)
        self.head = PairHead(self.shape.dim, self.shape.head_hidden)
        self.tasks = {}
        for task, rows in data["classes"].items():
            labels = sorted({y for _, y in rows})
            self.tasks[task] = (rows, {y: i for i, y in enumerate(labels)},
                                torch.nn.Linear(self.shape.dim, len(labels)))
        self.pairs = data["pairs"]
        dense = [p for n, p in self.encoder.named_parameters() if not n.startswith(("chars.", "bigrams."))]
        dense += list(self.head.parameters()) + [p for *_, lin in self.tasks.values() for p in lin.parameters()]
        sparse = [self.encoder.chars.weight, self.encoder.bigrams.weight]
        self.dense = dense
        self.opt_dense = torch.optim.AdamW(dense, lr=2e-3, weight_decay=0.01)
        self.opt_sparse = torch.optim.SparseAdam(sparse, lr=4e-3)

    def step(self, pairs: list, task: str, lr: float) -> dict:
        for opt, factor in ((self.opt_dense, 1.0), (self.opt_sparse, 2.0)):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        self.encoder.train()
        labels = torch.tensor([p.label for p in pairs], dtype=torch.float32)
        emb = self.encoder(*self.batcher.tensors([p.a for p in pairs] + [p.b for p in pairs]))
        u, v = emb[: len(pairs)], emb[len(pairs) :]
        cos = (u * v).sum(-1)
        losses = {
            "cosent": cosent(cos, labels),
            "nce": info_nce(u, v, labels),
            "head": F.binary_cross_entropy_with_logits(self.head(u, v), labels),
        }
        rows, index, linear = self.tasks[task]
        sample = self.rng.sample(rows, min(32, len(rows)))
        logits = linear(self.encoder(*self.batcher.tensors([t for t, _ in sample])))
        losses[task] = 0.5 * F.cross_entropy(logits / 0.1, torch.tensor([index[y] for _, y in sample]))
        total = sum(losses.values())
        self.opt_dense.zero_grad()
        self.opt_sparse.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.dense, 5.0)
        self.opt_dense.step()
        self.opt_sparse.step()
        return {k: float(v) for k, v in losses.items()}

    @torch.no_grad()
    def embed(self, texts: list[str]) -> torch.Tensor:
        self.encoder.eval()
        out = [self.encoder(*self.batcher.tensors(texts[i : i + 256])) for i in range(0, len(texts), 256)]
        return torch.cat(out)

    @torch.no_grad()
    def calibration(self, pairs: list) -> dict:
        """Best-threshold accuracy of the cosine and of the head on a held-out calibration split."""
        u, v = self.embed([p.a for p in pairs]), self.embed([p.b for p in pairs])
        y = np.array([p.label for p in pairs])
        out = {}
        for name, score in (("cosine", (u * v).sum(-1)), ("head", self.head(u, v))):
            s = score.numpy()
            out[name] = max(float(((s >= t) == y).mean()) for t in np.quantile(s, np.linspace(0.01, 0.99, 99)))
        return out


#: Scarce in-domain data counts more: open-domain questions (LCQMC's own kind) and the FAQ.
OVERSAMPLE = {"lcqmc_dev": 3, "faq": 3}


def epoch_batches(pairs: list, batch: int, rng: random.Random, oversample: dict[str, int] | None = None) -> list[list]:
    """One pass over the (oversampled) pairs in batches of similar length: a batch is padded to its
    longest sentence, and mixing a 60-unit PAWS-X pair into short questions quadruples the work."""
    oversample = OVERSAMPLE if oversample is None else oversample
    rows = [p for p in pairs for _ in range(oversample.get(p.corpus, 1))]
    rng.shuffle(rows)
    out = []
    chunk = batch * 32
    for start in range(0, len(rows), chunk):
        part = sorted(rows[start : start + chunk], key=lambda p: max(len(p.a), len(p.b)))
        out += [part[i : i + batch] for i in range(0, len(part), batch) if len(part[i : i + batch]) >= batch // 2]
    rng.shuffle(out)
    return out


def train(steps: int, batch: int, seed: int, out: Path, shape_kw: dict, check_every: int = 0,
          recipe: str = corpora.DEFAULT_RECIPE, oversample: dict[str, int] | None = None) -> dict:
    """Train for ``steps`` and export the weights of the checkpoint that did best on the held-out
    calibration splits, checked every ``check_every`` steps (0: only the last step, the shipped
    recipe). The pairs are few enough that a long run memorises them: 20,000 steps scored 0.71 on
    LCQMC calibration against 0.76 at 1,300 (bench/RESULTS.md)."""
    started = time.time()
    # One thread: on a shared machine a second one mostly spins waiting for the first.
    torch.set_num_threads(1)
    np.random.seed(seed)
    data = corpora.training_data(recipe=recipe)
    trainer = Trainer(data, shape_kw, seed)
    calib = {"lcqmc": corpora.lcqmc_splits()["calib"], "atec": corpora.atec_splits()["calib"]}
    batches: list = []
    tasks = [t for t in ("sentiment", "intent", "emotion", "sentiment") if t in trainer.tasks]
    log = []
    best: Checkpoint | None = None
    warmup = max(1, steps // 20)
    for step in range(steps):
        if not batches:
            batches = epoch_batches(trainer.pairs, batch, trainer.rng, oversample)
        pairs = batches.pop()
        lr = 2e-3 * min(1.0, (step + 1) / warmup) * max(0.05, 1 - step / steps)
        losses = trainer.step(pairs, tasks[step % len(tasks)], lr)
        checking = step == steps - 1 or (check_every > 0 and (step + 1) % check_every == 0)
        if step % 200 == 0 or checking:
            entry = {"step": step, "seconds": round(time.time() - started), **{k: round(v, 3) for k, v in losses.items()}}
            if checking:
                entry["calibration"] = {k: trainer.calibration(v) for k, v in calib.items()}
                best = Checkpoint.better(best, trainer, step, entry["calibration"])
            log.append(entry)
            print(json.dumps(entry, ensure_ascii=False), flush=True)
    best.restore(trainer)
    extra = {"oversample": oversample} if oversample is not None else {}
    return write(trainer, data, out, {"corpora": recipe, **extra, "steps": steps, "batch": batch, "seed": seed, "check_every": check_every,
                                      "kept_step": best.step, "kept_calibration": best.calibration,
                                      "train_seconds": round(time.time() - started), "log": log})


@dataclass
class Checkpoint:
    """The weights of one step and how they did on the calibration splits (mean best-threshold
    accuracy of the cosine and the head over both)."""

    step: int
    score: float
    calibration: dict
    encoder: dict
    head: dict

    @classmethod
    def better(cls, best: Checkpoint | None, trainer: Trainer, step: int, calibration: dict) -> Checkpoint:
        score = float(np.mean([acc for split in calibration.values() for acc in split.values()]))
        if best is not None and best.score >= score:
            return best
        return cls(step, score, calibration, copy.deepcopy(trainer.encoder.state_dict()),
                   copy.deepcopy(trainer.head.state_dict()))

    def restore(self, trainer: Trainer) -> None:
        trainer.encoder.load_state_dict(self.encoder)
        trainer.head.load_state_dict(self.head)


def write(trainer: Trainer, data: dict, out: Path, run: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(trainer.encoder, out / "encoder.onnx")
    (out / "chars.txt").write_text("\n".join(trainer.char_vocab) + "\n", "utf-8")
    (out / "bigrams.txt").write_text("\n".join(trainer.bigram_vocab) + "\n", "utf-8")
    np.savez(out / "head.npz", **{k: v.detach().numpy().astype(np.float32) for k, v in trainer.head.arrays().items()})
    metrics = {
        "model": {**trainer.shape.as_dict(), "max_units": MAX_UNITS, "onnx_bytes": (out / "encoder.onnx").stat().st_size},
        "training_data": data["report"],
        "pairs_total": len(data["pairs"]),
        "held_out": "LCQMC test, ATEC 10 % test, ATEC 5 % and LCQMC-dev 25 % calibration, waimai_10k, data/eval/*",
        "torch": torch.__version__,
        **run,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1300)
    parser.add_argument("--check-every", type=int, default=0,
                        help="steps between checks on the calibration splits, the best exported (0: the last)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--oversample", nargs="*", metavar="CORPUS=K",
                        help=f"times each pair of a corpus is repeated per epoch (default {OVERSAMPLE})")
    parser.add_argument("--corpora", choices=sorted(corpora.RECIPES), default=corpora.DEFAULT_RECIPE,
                        help="which pair corpora to train on (training/encoder/corpora.py RECIPES)")
    parser.add_argument("--seed", type=int, default=corpora.SEED)
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    args = parser.parse_args()
    train(args.steps, args.batch, args.seed, args.out, {"width": args.width, "layers": args.layers},
          args.check_every, args.corpora,
          None if args.oversample is None else {k: int(v) for k, v in (o.split("=") for o in args.oversample)})


if __name__ == "__main__":
    main()
