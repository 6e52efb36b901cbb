"""The classifiers (Flax linen). They share embedding, BiLSTM and classifier and differ only
in how the per-token states are aggregated into one vector:

  bilstm          masked max-pool                       (no attention)
  additive        additive attention (Bahdanau et al.)  (one weight per token)
  mhsa            multi-head QKV self-attention + residual + layer norm, masked mean-pool
  bilstm_matched  bilstm + one dense layer, parameter count within 1% of mhsa (control: size)
  transformer     no LSTM: embedding + learned positions -> encoder blocks (control: recurrence)
  bilstm_mean     masked mean-pool = additive attention with uniform weights (control: learned
                  weights)

and a non-contextual arm without the BiLSTM (v3: do flat weights come from contextual states?):

  embed_additive  token embeddings -> additive attention (the same module as `additive`, so
                  ablated the same way)
  embed_mean      token embeddings -> masked mean-pool (its uniform-weight control)

Every model maps ids <int32>[batch, seq] and mask <bool>[batch, seq] (True on real tokens,
right-padded) to logits <float32>[batch] for P(positive). Padding never influences the result:
pooling and attention are masked and the backward LSTM reads real tokens only. Attention
weights are `sow`n into the "intermediates" collection, so analysis can read them without a
second code path: `model.apply(params, ids, mask, mutable=["intermediates"])`; token
embeddings pass through `perturb("embedded")` so gradients w.r.t. them are one `jax.grad` away.

The attention of additive and mhsa can be ablated at inference with the same parameters:
`model.clone(attention_mode=m)` for a mode of `attention_ops.MODES` ("permuted" draws from the
"ablation" rng collection: `apply(..., rngs={"ablation": key})`).

`ModelConfig.precision` = "bfloat16" gives every matmul (LSTM, dense layers, attention scores and
weighted sums, classifier) bfloat16 inputs with float32 accumulation (`models.precision`);
parameters, activations between matmuls, softmax, layer norm, embeddings and logits stay float32.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from attnstudy.config import MODEL_NAMES, ModelConfig
from attnstudy.errors import UserError
from attnstudy.models import attention_ops, lstm
from attnstudy.models.precision import dense_dot, einsum

NEG = -1e9  # masked score: exp(NEG - max) is exactly 0 in float32, without inf arithmetic
LN_EPS = 1e-5  # PyTorch's LayerNorm default, so the twins agree


class BiLSTM(nn.Module):
    """<float32>[batch, seq, features] -> <float32>[batch, seq, 2 * hidden], zeros on padding."""

    hidden: int
    precision: str = "float32"

    @nn.compact
    def __call__(self, x, mask):
        params = self.param("cells", lambda key: lstm.init_lstm_params(key, x.shape[-1],
                                                                         self.hidden))
        return lstm.bilstm(params, x, mask, self.precision)


class Encoder(nn.Module):
    """Embedding -> dropout -> BiLSTM: ids <int32>[b, t] -> <float32>[b, t, 2h]."""

    vocab_size: int
    cfg: ModelConfig

    @nn.compact
    def __call__(self, ids, mask, train: bool):
        x = nn.Embed(self.vocab_size, self.cfg.embed_dim, name="embed")(ids)
        x = self.perturb("embedded", x)  # d logit / d embedding, for gradient importance
        x = nn.Dropout(self.cfg.embed_dropout, deterministic=not train)(x)
        return BiLSTM(self.cfg.hidden, self.cfg.precision, name="bilstm")(x, mask)


class EmbedEncoder(Encoder):
    """Embedding -> dropout, no recurrence: ids <int32>[b, t] -> <float32>[b, t, embed_dim].

    An `Encoder` without the BiLSTM (same "encoder/embed" parameters and perturb point), so the
    ablation pass reuses its states as it does the BiLSTM's (`evaluation.ablations`).
    """

    @nn.compact
    def __call__(self, ids, mask, train: bool):
        x = nn.Embed(self.vocab_size, self.cfg.embed_dim, name="embed")(ids)
        x = self.perturb("embedded", x)
        return nn.Dropout(self.cfg.embed_dropout, deterministic=not train)(x)


class Classifier(nn.Module):
    """Dropout -> linear to one logit: <float32>[b, d] -> <float32>[b]."""

    rate: float
    precision: str = "float32"

    @nn.compact
    def __call__(self, pooled, train: bool):
        pooled = nn.Dropout(self.rate, deterministic=not train)(pooled)
        return nn.Dense(1, name="out", dot_general=dense_dot(self.precision))(pooled)[:, 0]


def masked_max(h, mask):
    """Max over real tokens: <float32>[b, t, d] -> [b, d]; padding never wins."""
    return jnp.max(jnp.where(mask[..., None], h, -jnp.inf), axis=1)


def masked_mean(h, mask):
    """Mean over real tokens: <float32>[b, t, d] -> [b, d]."""
    m = mask[..., None].astype(h.dtype)
    return (h * m).sum(1) / m.sum(1)


def _rng(module: nn.Module, mode: str):
    return module.make_rng("ablation") if mode == "permuted" else None


class AdditiveAttention(nn.Module):
    """score_t = v . tanh(W h_t + b); a = softmax over real tokens; context = sum_t a_t h_t.

    `mode` "uniform" / "permuted" replaces a by the ablated weights (attention_ops.MODES). Sows the
    weights used <float32>[b, t] (zero on padding) as "attention".
    """

    dim: int
    mode: str = "learned"
    precision: str = "float32"

    @nn.compact
    def __call__(self, h, mask):
        if self.mode not in ("learned", "uniform", "permuted"):
            raise ValueError(f"additive attention has no mode {self.mode!r}")
        dot = dense_dot(self.precision)
        hidden = jnp.tanh(nn.Dense(self.dim, name="w", dot_general=dot)(h))
        scores = nn.Dense(1, use_bias=False, name="v", dot_general=dot)(hidden)
        weights = jax.nn.softmax(jnp.where(mask, scores[..., 0], NEG), axis=-1)
        weights = attention_ops.ablate(weights, mask, self.mode, _rng(self, self.mode))
        self.sow("intermediates", "attention", weights)
        return einsum("bt,btd->bd", weights, h, self.precision)


class SelfAttention(nn.Module):
    """Multi-head QKV self-attention over real tokens, output projection, residual, layer norm.

    <float32>[b, t, d] -> [b, t, d]. Sows weights <float32>[b, heads, t, t] (query x key; rows
    of padded queries and columns of padded keys are zero) as "attention".

    `mode` (attention_ops.MODES): "uniform" / "permuted" replace each real query's row of weights;
    "none" removes the attention sublayer (query, key, value, softmax and the output projection
    with its bias) and returns LayerNorm(h): the block minus its sublayer. The norm stays
    because it belongs to the residual stream the classifier was trained on; dropping it too
    would also measure the classifier on unnormalised states. Nothing is sown then. Unlike
    "uniform", which still adds out(mean of the real tokens' values) to every token, "none"
    removes what the sublayer adds at all.
    """

    heads: int
    mode: str = "learned"
    precision: str = "float32"

    @nn.compact
    def __call__(self, h, mask):
        if self.mode not in attention_ops.MODES:
            raise ValueError(f"self-attention has no mode {self.mode!r}")
        norm = nn.LayerNorm(epsilon=LN_EPS, name="norm")
        if self.mode == "none":
            return norm(h)
        b, t, d = h.shape
        dh = d // self.heads
        dense = functools.partial(nn.Dense, d, dot_general=dense_dot(self.precision))
        split = lambda x: x.reshape(b, t, self.heads, dh)  # noqa: E731
        q = split(dense(name="query")(h))
        k = split(dense(name="key")(h))
        v = split(dense(name="value")(h))
        scores = einsum("bqhd,bkhd->bhqk", q, k, self.precision) / jnp.sqrt(dh).astype(h.dtype)
        weights = jax.nn.softmax(jnp.where(mask[:, None, None, :], scores, NEG), axis=-1)
        weights = weights * mask[:, None, :, None]
        valid = mask[:, None, :, None] & mask[:, None, None, :]
        weights = attention_ops.ablate(weights, valid, self.mode, _rng(self, self.mode))
        self.sow("intermediates", "attention", weights)
        context = einsum("bhqk,bkhd->bqhd", weights, v, self.precision).reshape(b, t, d)
        return norm(h + dense(name="out")(context))


class BiLSTMMaxPool(nn.Module):
    """Model 1: BiLSTM + masked max-pool; `extra` > 0 adds a ReLU dense layer (matched control)."""

    vocab_size: int
    cfg: ModelConfig
    extra: int = 0

    @nn.compact
    def __call__(self, ids, mask, train: bool = False):
        h = Encoder(self.vocab_size, self.cfg, name="encoder")(ids, mask, train)
        pooled = masked_max(h, mask)
        if self.extra:
            dot = dense_dot(self.cfg.precision)
            pooled = nn.relu(nn.Dense(self.extra, name="extra", dot_general=dot)(pooled))
        return Classifier(self.cfg.dropout, self.cfg.precision, name="classifier")(pooled, train)


class BiLSTMMeanPool(nn.Module):
    """Control: BiLSTM + masked mean-pool, i.e. additive attention with uniform weights."""

    vocab_size: int
    cfg: ModelConfig

    @nn.compact
    def __call__(self, ids, mask, train: bool = False):
        h = Encoder(self.vocab_size, self.cfg, name="encoder")(ids, mask, train)
        c = self.cfg
        return Classifier(c.dropout, c.precision, name="classifier")(masked_mean(h, mask), train)


class BiLSTMAdditive(nn.Module):
    """Model 2: BiLSTM + additive attention."""

    vocab_size: int
    cfg: ModelConfig
    attention_mode: str = "learned"

    @nn.compact
    def __call__(self, ids, mask, train: bool = False):
        h = Encoder(self.vocab_size, self.cfg, name="encoder")(ids, mask, train)
        c = self.cfg
        pooled = AdditiveAttention(c.attention_dim, mode=self.attention_mode,
                                   precision=c.precision, name="attention")(h, mask)
        return Classifier(c.dropout, c.precision, name="classifier")(pooled, train)


class BiLSTMSelfAttention(nn.Module):
    """Model 3: BiLSTM + multi-head self-attention + masked mean-pool."""

    vocab_size: int
    cfg: ModelConfig
    attention_mode: str = "learned"

    @nn.compact
    def __call__(self, ids, mask, train: bool = False):
        h = Encoder(self.vocab_size, self.cfg, name="encoder")(ids, mask, train)
        c = self.cfg
        h = SelfAttention(c.heads, mode=self.attention_mode, precision=c.precision,
                          name="attention")(h, mask)
        return Classifier(c.dropout, c.precision, name="classifier")(masked_mean(h, mask), train)


class EmbedAdditive(nn.Module):
    """Non-contextual arm: token embeddings -> additive attention -> classifier."""

    vocab_size: int
    cfg: ModelConfig
    attention_mode: str = "learned"

    @nn.compact
    def __call__(self, ids, mask, train: bool = False):
        h = EmbedEncoder(self.vocab_size, self.cfg, name="encoder")(ids, mask, train)
        c = self.cfg
        pooled = AdditiveAttention(c.attention_dim, mode=self.attention_mode,
                                   precision=c.precision, name="attention")(h, mask)
        return Classifier(c.dropout, c.precision, name="classifier")(pooled, train)


class EmbedMeanPool(nn.Module):
    """Non-contextual control: masked mean of the token embeddings -> classifier."""

    vocab_size: int
    cfg: ModelConfig

    @nn.compact
    def __call__(self, ids, mask, train: bool = False):
        h = EmbedEncoder(self.vocab_size, self.cfg, name="encoder")(ids, mask, train)
        c = self.cfg
        return Classifier(c.dropout, c.precision, name="classifier")(masked_mean(h, mask), train)


class Transformer(nn.Module):
    """Control: embedding + learned positions -> post-LN encoder blocks -> masked mean-pool."""

    vocab_size: int
    cfg: ModelConfig
    max_len: int

    @nn.compact
    def __call__(self, ids, mask, train: bool = False):
        c = self.cfg
        pos = self.param("positions", nn.initializers.normal(0.02), (self.max_len, c.embed_dim))
        x = nn.Embed(self.vocab_size, c.embed_dim, name="embed")(ids)
        x = self.perturb("embedded", x) + pos[None, : ids.shape[1]]
        x = nn.Dropout(c.embed_dropout, deterministic=not train)(x)
        dot = dense_dot(c.precision)
        for i in range(c.transformer_layers):
            x = SelfAttention(c.heads, precision=c.precision, name=f"block{i}_attention")(x, mask)
            ff = nn.Dense(c.embed_dim, name=f"block{i}_ff2", dot_general=dot)(
                nn.relu(nn.Dense(c.transformer_ff, name=f"block{i}_ff1", dot_general=dot)(x)))
            x = nn.LayerNorm(epsilon=LN_EPS, name=f"block{i}_norm")(x + ff)
        return Classifier(c.dropout, c.precision, name="classifier")(masked_mean(x, mask), train)


def param_count(params) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def _shape_count(model: nn.Module, max_len: int) -> int:
    ids = jnp.zeros((1, max_len), jnp.int32)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), ids, ids > 0))
    return param_count(shapes["params"])


@functools.lru_cache(maxsize=32)
def matched_width(vocab_size: int, cfg: ModelConfig, max_len: int) -> int:
    """Width of bilstm_matched's extra layer that brings it closest to mhsa's parameter count.

    The extra layer adds 2h*m + m (dense) + m (classifier input) parameters, linear in m.
    """
    target = _shape_count(BiLSTMSelfAttention(vocab_size, cfg), max_len)
    base = _shape_count(BiLSTMMaxPool(vocab_size, cfg), max_len)
    per_unit = 2 * cfg.hidden + 2
    return max(1, round((target - base + 2 * cfg.hidden) / per_unit))


def build_model(name: str, cfg: ModelConfig, vocab_size: int, max_len: int) -> nn.Module:
    """The Flax module for a model name of the experiment config."""
    if name == "bilstm":
        return BiLSTMMaxPool(vocab_size, cfg)
    if name == "bilstm_matched":
        return BiLSTMMaxPool(vocab_size, cfg, extra=matched_width(vocab_size, cfg, max_len))
    if name == "additive":
        return BiLSTMAdditive(vocab_size, cfg)
    if name == "mhsa":
        return BiLSTMSelfAttention(vocab_size, cfg)
    if name == "transformer":
        return Transformer(vocab_size, cfg, max_len)
    if name == "bilstm_mean":
        return BiLSTMMeanPool(vocab_size, cfg)
    if name == "embed_additive":
        return EmbedAdditive(vocab_size, cfg)
    if name == "embed_mean":
        return EmbedMeanPool(vocab_size, cfg)
    raise UserError(f"unknown model {name!r} (known: {', '.join(MODEL_NAMES)})")


def init_params(model: nn.Module, seed: int, max_len: int):
    ids = jnp.ones((2, max_len), jnp.int32)
    return model.init(jax.random.key(seed), ids, ids > 0)["params"]
