"""The results schema, defined once: pydantic models (`models`) that both validate a results
folder (`validate_results`) and generate its documentation (`schema_markdown`, which is
build/results/README.md).
"""

from __future__ import annotations

SCHEMA_VERSION = 2
# The results set one build writes (bench.json, written by `bench`, is optional and separate).
RESULT_FILES = ("results.json", "test_predictions.parquet", "attention.json", "analysis.json")

from attnstudy.schema.doc import schema_markdown  # noqa: E402 (they import the constants)
from attnstudy.schema.validate import validate_results  # noqa: E402

__all__ = ["RESULT_FILES", "SCHEMA_VERSION", "schema_markdown", "validate_results"]
