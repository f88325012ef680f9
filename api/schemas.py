"""Pydantic models of every body and response the gateway takes or gives."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Health", "Ready"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(_Out):
    """The service is up."""

    status: str = Field(examples=["ok"])


class Ready(_Out):
    """Whether the gateway can serve: database reachable, schema at the code's revision."""

    status: str = Field(examples=["ok"])
    database: bool = Field(examples=[True])
    migrations_current: bool = Field(examples=[True])
    detail: str | None = Field(None, examples=[None])
