"""The record of published weights in results.json (attnstudy.pipeline.publish)."""

from __future__ import annotations

from pydantic import Field

from attnstudy.schema.base import Record


class WeightFile(Record):
    """One file in weights/: `<model>.msgpack` (the first seed's evaluated parameters, Flax
    msgpack, float32), `vocab.json` (index -> word) or `config.json` (the resolved config)."""
    sha256: str = Field(description="sha256 of the file's bytes; checked before it is used")
    bytes: int = Field(description="its size")
