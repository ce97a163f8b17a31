"""Version 2 of ``parcel_sent`` weighs in grams; version 1 weighed in kilograms."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from events import EventSpec
from modules.base import BaseModule
from modules.declarations import Hook


class ParcelSent(BaseModel):
    parcel_id: str
    weight_g: int


def grams(v1: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2: the weight in grams."""
    return {"parcel_id": v1["parcel_id"], "weight_g": round(v1["weight_kg"] * 1000)}


class ParcelsModule(BaseModule):
    name = "parcels"
    description = "Test-only: a versioned event and a hook that records it."
    events = (EventSpec("parcel_sent", ParcelSent, version=2, upcasters={1: grams}),)
    hooks = (Hook("parcel_sent", "record", context="record the parcel's weight"),)
