"""Building blocks of the schema models: closed and loose records, mapping fields, seed stats."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Hex16 = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


def keyed(description: str, *keys: str, **kw) -> Any:
    """A field holding a mapping; `keys` name its key levels in the README (e.g. "<model>")."""
    return Field(description=description, json_schema_extra={"keys": list(keys)}, **kw)


class Record(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Loose(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class Stat(Loose):
    mean: float | None = Field(description="mean over seeds (null: not a number)")
    std: float | None = Field(description="sample standard deviation over seeds (0 for one)")
    ci_low: float | None = Field(description="Student-t 95% interval over seeds: low end")
    ci_high: float | None = Field(description="... high end")
    n: int = Field(description="seeds")
