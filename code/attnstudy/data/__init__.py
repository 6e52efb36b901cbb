"""Data: raw IMDb (imdb) -> tokens (text) -> encoded splits (encode) -> batches (batches);
the probe sentences (probes)."""
