"""The encoder network (PyTorch, training only) and its ONNX export.

Units and unit bigrams are embedded and summed, a few residual convolutions mix neighbours (a
receptive field of seven units: enough for Chinese words and short phrases, cheap on one core),
and attention pooling plus max pooling give one vector, projected and L2-normalised.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Shape:
    chars: int
    bigrams: int
    width: int = 192
    bigram_width: int = 96
    layers: int = 2
    dim: int = 256
    head_hidden: int = 256

    def as_dict(self) -> dict:
        return asdict(self)


class Encoder(nn.Module):
    def __init__(self, shape: Shape) -> None:
        super().__init__()
        self.shape = shape
        w = shape.width
        self.chars = nn.Embedding(shape.chars, w, padding_idx=0, sparse=True)
        self.bigrams = nn.Embedding(shape.bigrams, shape.bigram_width, padding_idx=0, sparse=True)
        self.bigram_proj = nn.Linear(shape.bigram_width, w, bias=False)
        self.norm = nn.LayerNorm(w)
        self.convs = nn.ModuleList(
            nn.Conv1d(w, w, kernel_size=3, padding=2**i, dilation=2**i) for i in range(shape.layers))
        self.attn = nn.Linear(w, 1)
        self.out = nn.Linear(2 * w, shape.dim)
        self.dropout = nn.Dropout(0.1)
        nn.init.normal_(self.chars.weight, std=0.1)
        nn.init.normal_(self.bigrams.weight, std=0.1)
        with torch.no_grad():
            self.chars.weight[0].zero_()
            self.bigrams.weight[0].zero_()

    def embed(self, chars: torch.Tensor, bigrams: torch.Tensor) -> torch.Tensor:
        return self.chars(chars) + self.bigram_proj(self.bigrams(bigrams))

    def forward(self, chars: torch.Tensor, bigrams: torch.Tensor) -> torch.Tensor:
        return self.encode(self.embed(chars, bigrams), chars != 0)

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(x.dtype)
        x = self.dropout(self.norm(x)) * m
        for conv in self.convs:
            x = (x + F.gelu(conv(x.transpose(1, 2)).transpose(1, 2))) * m
        score = self.attn(x).squeeze(-1).masked_fill(~mask, -1e4)
        attended = torch.einsum("bl,bld->bd", torch.softmax(score, dim=-1), x)
        peak = x.masked_fill(~mask.unsqueeze(-1), -1e4).max(dim=1).values
        return F.normalize(self.out(torch.cat([attended, peak], dim=-1)), dim=-1)


class PairHead(nn.Module):
    """Same meaning or not, from two unit vectors: [u*v, |u-v|, cos] → hidden → logit."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(2 * dim + 1, hidden)
        self.w2 = nn.Linear(hidden, 1)

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        x = torch.cat([u * v, (u - v).abs(), (u * v).sum(-1, keepdim=True)], dim=-1)
        return self.w2(F.relu(self.w1(x))).squeeze(-1)

    def arrays(self) -> dict:
        return {"w1": self.w1.weight, "b1": self.w1.bias, "w2": self.w2.weight, "b2": self.w2.bias}


class _Exported(nn.Module):
    """Inference graph: the embedding tables stored as float16 (half the file), cast after lookup."""

    def __init__(self, enc: Encoder) -> None:
        super().__init__()
        self.enc = enc
        self.register_buffer("char_table", enc.chars.weight.detach().half())
        self.register_buffer("bigram_table", enc.bigrams.weight.detach().half())

    def forward(self, chars: torch.Tensor, bigrams: torch.Tensor) -> torch.Tensor:
        x = F.embedding(chars, self.char_table).float() + self.enc.bigram_proj(
            F.embedding(bigrams, self.bigram_table).float())
        return self.enc.encode(x, chars != 0)


def export_onnx(enc: Encoder, path: Path) -> None:
    enc.eval()
    wrapper = _Exported(enc).eval()
    chars = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]], dtype=torch.int64)
    bigrams = torch.tensor([[3, 4, 0, 0], [5, 0, 0, 0]], dtype=torch.int64)
    torch.onnx.export(
        wrapper, (chars, bigrams), str(path), input_names=["chars", "bigrams"], output_names=["embedding"],
        dynamic_axes={"chars": {0: "batch", 1: "units"}, "bigrams": {0: "batch", 1: "units"},
                      "embedding": {0: "batch"}},
        opset_version=17, dynamo=False)
