"""Parcels: one event, ``parcel_sent``, whose payload changed in version 2."""

from tests.e2e.rolling.modules.parcels.module import ParcelSent, ParcelsModule, grams

__all__ = ["ParcelSent", "ParcelsModule", "grams"]
