"""The results schema, defined once: pydantic models (`models`) that both validate a results
folder (`validate_results`) and generate its documentation (`schema_markdown`, which is
build/results/README.md).
"""

from __future__ import annotations

from attnstudy.schema.doc import schema_markdown
from attnstudy.schema.models import RESULT_FILES, SCHEMA_VERSION
from attnstudy.schema.validate import validate_results

__all__ = ["RESULT_FILES", "SCHEMA_VERSION", "schema_markdown", "validate_results"]
