"""PyTorch twins of the Flax classifiers in `classifiers.py` (dev only: parity tests, the bench).

Same math, same layer names and nesting as the Flax modules, so `load_flax_params` can copy a
Flax parameter tree in leaf by leaf and the twins reproduce the Flax logits and attention
weights to float32 rounding. Built from stock primitives only: `nn.Embedding`, a bidirectional
`nn.LSTM` run on packed sequences (the backward direction reads each row's real tokens only),
`nn.Linear` and `nn.LayerNorm` (eps=1e-5). No Python loops over time or batch.

Every model maps ids <int64 or int32>[batch, seq] and mask <bool>[batch, seq] (True on real
tokens, right-padded, every row at least one real token) to logits <float32>[batch]. With
`return_attention=True` it returns `(logits, weights)`, weights in the Flax `sow` layout:
additive and embed_additive [b, t]; mhsa [b, heads, t, t]; transformer [layers, b, heads, t, t];
None otherwise. The last weights are also kept in `model.last_attention`.

`cfg.precision` = "bfloat16" runs the forward under CPU autocast to bfloat16 and turns every
matmul's result back to float32 (`.float()`, a no-op in float32 mode), so softmax, layer norm,
pooling and the logits stay float32 as in Flax. What torch then does: `nn.Linear`, `@` and
`einsum` take bfloat16 inputs *and bias* and return bfloat16 (rounded once more than Flax's
float32 result); the packed `nn.LSTM` runs each step's gate linears in bfloat16 with bfloat16
gate pre-activations and sigmoid/tanh, while the cell state and `h` stay float32 (torch starts
them as float32 zeros and type promotion keeps them there). The backward matmuls run in
bfloat16 too; parameter gradients arrive in float32.

This is the only module of the package that imports torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnstudy.config import MODEL_NAMES, PRECISIONS, ModelConfig

NEG = -1e9  # same masked score as models.NEG
LN_EPS = 1e-5

__all__ = ["build_torch_model", "load_flax_params"]


class Encoder(nn.Module):
    """Embedding -> dropout -> packed BiLSTM: ids [b, t] -> <float32>[b, t, 2h], zero on padding."""

    def __init__(self, vocab_size: int, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.embed_dropout)
        self.bilstm = nn.LSTM(cfg.embed_dim, cfg.hidden, batch_first=True, bidirectional=True)

    def forward(self, ids, mask):
        x = self.dropout(self.embed(ids))
        lengths = mask.sum(1).to("cpu", torch.int64)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.bilstm(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        return h.float()


class EmbedEncoder(nn.Module):
    """Embedding -> dropout, no recurrence: ids [b, t] -> <float32>[b, t, embed_dim]."""

    def __init__(self, vocab_size: int, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.embed_dropout)

    def forward(self, ids, mask):
        return self.dropout(self.embed(ids))


class Classifier(nn.Module):
    """Dropout -> linear to one logit: <float32>[b, d] -> [b]."""

    def __init__(self, dim: int, rate: float):
        super().__init__()
        self.dropout = nn.Dropout(rate)
        self.out = nn.Linear(dim, 1)

    def forward(self, pooled):
        return self.out(self.dropout(pooled)).float()[:, 0]


def masked_max(h, mask):
    return h.masked_fill(~mask[..., None], float("-inf")).amax(1)


def masked_mean(h, mask):
    m = mask[..., None].to(h.dtype)
    return (h * m).sum(1) / m.sum(1)


class AdditiveAttention(nn.Module):
    """score_t = v . tanh(W h_t + b); masked softmax; context = sum_t a_t h_t."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.w = nn.Linear(in_dim, dim)
        self.v = nn.Linear(dim, 1, bias=False)

    def forward(self, h, mask):
        scores = self.v(torch.tanh(self.w(h).float())).float()[..., 0].masked_fill(~mask, NEG)
        weights = torch.softmax(scores, dim=-1)
        return torch.einsum("bt,btd->bd", weights, h).float(), weights


class SelfAttention(nn.Module):
    """Multi-head QKV self-attention over real tokens + output projection, residual, LayerNorm.

    <float32>[b, t, d] -> ([b, t, d], weights [b, heads, t, t]; padded rows/columns zero).
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)

    def forward(self, h, mask):
        b, t, d = h.shape
        dh = d // self.heads

        def split(x):  # [b, t, d] -> [b, heads, t, dh]
            return x.view(b, t, self.heads, dh).transpose(1, 2)

        q, k, v = (split(f(h).float()) for f in (self.query, self.key, self.value))
        scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(dh)
        scores = scores.masked_fill(~mask[:, None, None, :], NEG)
        weights = torch.softmax(scores, dim=-1) * mask[:, None, :, None].to(h.dtype)
        context = (weights @ v).float().transpose(1, 2).reshape(b, t, d)
        return self.norm(h + self.out(context).float()), weights


class _Twin(nn.Module):
    """Shared forward wrapper: `_logits` returns (logits, weights or None)."""

    last_attention = None
    precision = "float32"  # set by build_torch_model from cfg.precision

    def forward(self, ids, mask, return_attention: bool = False):
        mask = mask.to(torch.bool)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bfloat16"):
            logits, weights = self._logits(ids, mask)
        self.last_attention = None if weights is None else weights.detach()
        return (logits, weights) if return_attention else logits


class BiLSTMMaxPool(_Twin):
    """bilstm (extra=0) and bilstm_matched (extra>0: max-pool -> Linear -> ReLU -> classifier)."""

    def __init__(self, vocab_size: int, cfg: ModelConfig, extra: int = 0):
        super().__init__()
        self.encoder = Encoder(vocab_size, cfg)
        self.extra = nn.Linear(2 * cfg.hidden, extra) if extra else None
        self.classifier = Classifier(extra or 2 * cfg.hidden, cfg.dropout)

    def _logits(self, ids, mask):
        pooled = masked_max(self.encoder(ids, mask), mask)
        if self.extra is not None:
            pooled = torch.relu(self.extra(pooled).float())
        return self.classifier(pooled), None


class BiLSTMMeanPool(_Twin):
    """bilstm_mean: masked mean-pool of the BiLSTM states -> classifier."""

    def __init__(self, vocab_size: int, cfg: ModelConfig):
        super().__init__()
        self.encoder = Encoder(vocab_size, cfg)
        self.classifier = Classifier(2 * cfg.hidden, cfg.dropout)

    def _logits(self, ids, mask):
        return self.classifier(masked_mean(self.encoder(ids, mask), mask)), None


class BiLSTMAdditive(_Twin):
    def __init__(self, vocab_size: int, cfg: ModelConfig):
        super().__init__()
        self.encoder = Encoder(vocab_size, cfg)
        self.attention = AdditiveAttention(2 * cfg.hidden, cfg.attention_dim)
        self.classifier = Classifier(2 * cfg.hidden, cfg.dropout)

    def _logits(self, ids, mask):
        pooled, weights = self.attention(self.encoder(ids, mask), mask)
        return self.classifier(pooled), weights


class BiLSTMSelfAttention(_Twin):
    def __init__(self, vocab_size: int, cfg: ModelConfig):
        super().__init__()
        self.encoder = Encoder(vocab_size, cfg)
        self.attention = SelfAttention(2 * cfg.hidden, cfg.heads)
        self.classifier = Classifier(2 * cfg.hidden, cfg.dropout)

    def _logits(self, ids, mask):
        h, weights = self.attention(self.encoder(ids, mask), mask)
        return self.classifier(masked_mean(h, mask)), weights


class EmbedAdditive(_Twin):
    """embed_additive: token embeddings -> additive attention -> classifier."""

    def __init__(self, vocab_size: int, cfg: ModelConfig):
        super().__init__()
        self.encoder = EmbedEncoder(vocab_size, cfg)
        self.attention = AdditiveAttention(cfg.embed_dim, cfg.attention_dim)
        self.classifier = Classifier(cfg.embed_dim, cfg.dropout)

    def _logits(self, ids, mask):
        pooled, weights = self.attention(self.encoder(ids, mask), mask)
        return self.classifier(pooled), weights


class EmbedMeanPool(_Twin):
    """embed_mean: masked mean of the token embeddings -> classifier."""

    def __init__(self, vocab_size: int, cfg: ModelConfig):
        super().__init__()
        self.encoder = EmbedEncoder(vocab_size, cfg)
        self.classifier = Classifier(cfg.embed_dim, cfg.dropout)

    def _logits(self, ids, mask):
        return self.classifier(masked_mean(self.encoder(ids, mask), mask)), None


class Transformer(_Twin):
    """Embedding + learned positions -> post-LN blocks -> masked mean-pool -> classifier."""

    def __init__(self, vocab_size: int, cfg: ModelConfig, max_len: int):
        super().__init__()
        self.layers = cfg.transformer_layers
        self.positions = nn.Parameter(torch.randn(max_len, cfg.embed_dim) * 0.02)
        self.embed = nn.Embedding(vocab_size, cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.embed_dropout)
        for i in range(self.layers):  # Flax's names: block{i}_attention, _ff1, _ff2, _norm
            self.add_module(f"block{i}_attention", SelfAttention(cfg.embed_dim, cfg.heads))
            self.add_module(f"block{i}_ff1", nn.Linear(cfg.embed_dim, cfg.transformer_ff))
            self.add_module(f"block{i}_ff2", nn.Linear(cfg.transformer_ff, cfg.embed_dim))
            self.add_module(f"block{i}_norm", nn.LayerNorm(cfg.embed_dim, eps=LN_EPS))
        self.classifier = Classifier(cfg.embed_dim, cfg.dropout)

    def _logits(self, ids, mask):
        x = self.dropout(self.embed(ids) + self.positions[None, : ids.shape[1]])
        weights = []
        for i in range(self.layers):
            x, w = getattr(self, f"block{i}_attention")(x, mask)
            weights.append(w)
            ff1, ff2 = getattr(self, f"block{i}_ff1"), getattr(self, f"block{i}_ff2")
            ff = ff2(torch.relu(ff1(x).float())).float()
            x = getattr(self, f"block{i}_norm")(x + ff)
        return self.classifier(masked_mean(x, mask)), torch.stack(weights)


def build_torch_model(name: str, cfg: ModelConfig, vocab_size: int, max_len: int,
                      extra: int | None = None) -> nn.Module:
    """The PyTorch twin of `models.build_model(name, cfg, vocab_size, max_len)`.

    `extra` is bilstm_matched's width; by default the same `models.matched_width` Flax uses.
    The model comes back in eval mode (dropout off, like Flax's default `train=False`); call
    `.train()` before training. Weights are PyTorch's default init until `load_flax_params`.
    Matmuls run at `cfg.precision` (see the module docstring).
    """
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"unknown precision {cfg.precision!r} (known: {', '.join(PRECISIONS)})")
    model = _build(name, cfg, vocab_size, max_len, extra).eval()
    model.precision = cfg.precision
    return model


def _build(name: str, cfg: ModelConfig, vocab_size: int, max_len: int, extra: int | None):
    if extra is not None and name != "bilstm_matched":
        raise ValueError(f"extra is only meaningful for bilstm_matched, not {name!r}")
    if name == "bilstm_matched" and extra is None:
        from attnstudy.models.classifiers import matched_width

        extra = matched_width(vocab_size, cfg, max_len)
    twins = {"bilstm": lambda: BiLSTMMaxPool(vocab_size, cfg),
             "bilstm_matched": lambda: BiLSTMMaxPool(vocab_size, cfg, extra=extra),
             "additive": lambda: BiLSTMAdditive(vocab_size, cfg),
             "mhsa": lambda: BiLSTMSelfAttention(vocab_size, cfg),
             "transformer": lambda: Transformer(vocab_size, cfg, max_len),
             "bilstm_mean": lambda: BiLSTMMeanPool(vocab_size, cfg),
             "embed_additive": lambda: EmbedAdditive(vocab_size, cfg),
             "embed_mean": lambda: EmbedMeanPool(vocab_size, cfg)}
    if name in twins:
        return twins[name]()
    raise ValueError(f"unknown model {name!r} (known: {', '.join(MODEL_NAMES)})")


def load_flax_params(torch_model: nn.Module, flax_params) -> nn.Module:
    """Copy a Flax parameter tree (`init_params(...)`, or a dict with it under "params") in.

    Dense kernel [in, out] -> Linear weight [out, in]; Embed embedding and LayerNorm scale/bias
    as they are; LSTM cells: w_i -> weight_ih_l0 = w_i.T, w_h -> weight_hh_l0 = w_h.T,
    b -> bias_ih_l0 and bias_hh_l0 = 0 (`bwd` -> the `*_reverse` tensors). Every Flax leaf must
    land on a twin parameter of the same shape and every twin parameter must be set, else
    ValueError. Returns the model.
    """
    names = {id(p): n for n, p in torch_model.named_parameters()}
    done: set[str] = set()

    def put(param: torch.Tensor, value, where: str) -> None:
        value = torch.from_numpy(np.array(value, dtype=np.float32))
        if tuple(param.shape) != tuple(value.shape):
            raise ValueError(f"{where}: twin shape {tuple(param.shape)} != Flax shape "
                             f"{tuple(value.shape)}")
        param.copy_(value)
        done.add(names[id(param)])

    def load_lstm(lstm: nn.LSTM, cells, where: str) -> None:
        for direction, suffix in (("fwd", ""), ("bwd", "_reverse")):
            p = cells[direction]
            put(getattr(lstm, f"weight_ih_l0{suffix}"), np.asarray(p["w_i"]).T, where)
            put(getattr(lstm, f"weight_hh_l0{suffix}"), np.asarray(p["w_h"]).T, where)
            put(getattr(lstm, f"bias_ih_l0{suffix}"), p["b"], where)
            put(getattr(lstm, f"bias_hh_l0{suffix}"), np.zeros_like(np.asarray(p["b"])), where)

    def walk(module: nn.Module, tree, where: str) -> None:
        for key, sub in tree.items():
            path = f"{where}/{key}" if where else key
            if isinstance(module, nn.LSTM) and key == "cells":
                load_lstm(module, sub, path)
            elif hasattr(sub, "items"):
                child = getattr(module, key, None)
                if not isinstance(child, nn.Module):
                    raise ValueError(f"{path}: the twin has no submodule {key!r}")
                walk(child, sub, path)
            elif isinstance(module, nn.Linear) and key in ("kernel", "bias"):
                put(module.weight if key == "kernel" else module.bias,
                    np.asarray(sub).T if key == "kernel" else sub, path)
            elif isinstance(module, nn.Embedding) and key == "embedding":
                put(module.weight, sub, path)
            elif isinstance(module, nn.LayerNorm) and key in ("scale", "bias"):
                put(module.weight if key == "scale" else module.bias, sub, path)
            elif isinstance(getattr(module, key, None), nn.Parameter):
                put(getattr(module, key), sub, path)
            else:
                raise ValueError(f"{path}: no matching parameter in {type(module).__name__}")

    with torch.no_grad():
        walk(torch_model, flax_params["params"] if "params" in flax_params else flax_params, "")
    missing = sorted(set(names.values()) - done)
    if missing:
        raise ValueError(f"twin parameters not set from the Flax tree: {', '.join(missing)}")
    return torch_model
