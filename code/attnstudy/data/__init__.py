"""Data: raw IMDb (imdb) -> tokens (text) -> encoded splits (encode) -> batches; the probe sentences (probes)."""
