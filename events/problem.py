"""RFC 9457 problem documents: the one shape every failure takes on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from events.errors import HooklineError

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document; unknown members are extensions."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    # When the client may try again (seconds); the gateway also sends it as Retry-After.
    retry_after_s: int | None = None

    @classmethod
    def from_error(cls, error: HooklineError, instance: str | None = None) -> Problem:
        return cls(
            type=error.type_uri,
            title=error.title,
            status=error.status,
            detail=error.detail,
            instance=instance,
            **error.extensions,
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
