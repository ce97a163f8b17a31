"""Paging over an in-memory list that a worker just rebuilt a list view from."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from events.paging import Page, PageQuery


def page_of(items: Sequence[tuple[int, BaseModel]], query: PageQuery) -> Page:
    """The page ``query`` asks for, from (score, item) pairs sorted newest first."""
    older = [(s, i) for s, i in items if query.before is None or s < query.before]
    chosen = older[: query.limit]
    cursor = chosen[-1][0] if len(chosen) == query.limit else None
    return Page(items=[i.model_dump(mode="json") for _, i in chosen], next=cursor)
