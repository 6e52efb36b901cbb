"""The trained models of a profile, for `predict` and `evaluate` on any text.

Parameters come from the run cache (build/cache/runs, found through the data's fingerprint)
when the run is there, else from the weights published beside the profile's results
(<results>/weights, pipeline.publish), which need neither the dataset nor a network; without a
local data folder (IMDB_DIR) the published weights come first, so a cached run never sends
`predict` to the hub for a model they hold. Each model encodes text with the vocabulary and
config it was trained with.
"""

from __future__ import annotations

import numpy as np

from attnstudy.config import Config
from attnstudy.data.encode import Split, encode_texts
from attnstudy.errors import UserError
from attnstudy.pipeline import cache, publish


class Predictor:
    """One trained model behind `probs(texts) -> <float32>[n]`, with the vocabulary and config
    it was trained with; `source` says where its parameters came from."""

    def __init__(self, cfg: Config, name: str, seed: int, vocab: list[str], params,
                 source: str):
        from attnstudy.models.inference import compiled_predict, enable_compile_cache

        enable_compile_cache()
        self.cfg, self.name, self.seed, self.vocab, self.params = cfg, name, seed, vocab, params
        self.source = source
        self.model, self.predict = compiled_predict(name, cfg.model, len(vocab), cfg.data.max_len)

    def encode(self, texts: list[str]) -> Split:
        return encode_texts(texts, self.vocab, self.cfg.data)

    def probs(self, texts: list[str]) -> np.ndarray:
        from attnstudy.models.inference import predict_probs

        return predict_probs(self.predict, self.params, self.encode(texts),
                             self.cfg.data.bucket_edges, self.cfg.train.eval_batch_size)


class Models:
    """Where a profile's trained models are: the run cache first, else the published weights."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._dataset = self._published = self._fingerprint = None

    def dataset(self):
        from attnstudy.data.encode import load_dataset

        if self._dataset is None:
            self._dataset = load_dataset(self.cfg.data)
        return self._dataset

    def published(self):
        if self._published is None:
            folder = cache.results_dir(self.cfg) / publish.WEIGHTS
            self._published = publish.load_published(folder) or False
        return self._published or None

    def fingerprint(self, name: str, seed: int) -> str | None:
        """The data fingerprint keying the run cache; None when the run cannot be there. Read
        from a local data folder's checksums; from the hub only when such a run is cached."""
        from attnstudy.data import imdb
        from attnstudy.training.checkpoints import BEST

        if self._fingerprint is None:
            local = imdb.data_dir_from_env()
            if local is not None:
                self._fingerprint = cache.local_fingerprint(local)
            elif any((cache.CACHE / "runs").glob(f"{name}-seed{seed}-*/{BEST}")):
                self._fingerprint = self.dataset().fingerprint
        return self._fingerprint

    def get(self, name: str, seed: int) -> Predictor | None:
        from attnstudy.data import imdb

        pub = self.published()
        held = pub is not None and name in pub.models and seed == pub.seed
        # Without a local data folder the run cache needs the hub; the published run does not.
        if held and imdb.data_dir_from_env() is None:
            return self._from(pub, name, seed)
        fingerprint = self.fingerprint(name, seed)
        if fingerprint is not None:
            params = cache.load_best_params(self.cfg, name, seed, fingerprint)
            if params is not None:
                return Predictor(self.cfg, name, seed, self.dataset().vocab, params, "run cache")
        return self._from(pub, name, seed) if held else None

    @staticmethod
    def _from(pub, name: str, seed: int) -> Predictor:
        return Predictor(pub.cfg, name, seed, pub.vocab, pub.params(name), str(pub.folder))

    def require(self, name: str, seed: int) -> Predictor:
        found = self.get(name, seed)
        if found is not None:
            return found
        cfg, pub = self.cfg, self.published()
        where = "" if seed in cfg.train.seeds else f" (its seeds: {_join(cfg.train.seeds)})"
        held = f"; {pub.folder} holds seed {pub.seed} of {_join(pub.models)}" if pub else ""
        raise UserError(f"no trained {name} (seed {seed}) for the {cfg.profile} profile{where}"
                        f"{held}; train it with `python -m attnstudy train --profile "
                        f"{cfg.profile} --models {name} --seeds {seed}`")


def _join(values) -> str:
    return ", ".join(map(str, values))
