"""Requests, records and event payloads of the wallet module."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

# No single operation moves more than this; the `max_amount` secret may only lower it.
# Checked at the gateway, so an absurd amount never becomes a command.
AMOUNT_CEILING_CREDITS = 1_000_000_000


class AmountRequest(BaseModel):
    """A whole number of credits; booleans, floats and strings are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: StrictInt = Field(
        gt=0, le=AMOUNT_CEILING_CREDITS, description="whole credits, more than zero"
    )


class EntryKind(StrEnum):
    WELCOME = "welcome"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"


class Operation(BaseModel):
    """One change to one wallet; ``op_id`` is unique, so it applies at most once."""

    model_config = ConfigDict(frozen=True)

    op_id: str
    user_id: str
    delta: int
    kind: EntryKind
    reference: str = ""


class InFlight(BaseModel):
    """An operation applied to a wallet's balance whose ledger entry may not be written yet,
    and the balance the change left.

    The wallet keeps it as one string in a list, ``<op id>@<balance after>`` (array
    elements stay plain values, which every MongoDB-protocol server handles alike); a
    mark written before the balance was kept is the op id alone.
    """

    model_config = ConfigDict(frozen=True)

    op_id: str
    balance_after: int | None = None

    @property
    def mark(self) -> str:
        return self.op_id if self.balance_after is None else f"{self.op_id}@{self.balance_after}"

    @classmethod
    def parse(cls, mark: str) -> InFlight:
        op_id, separator, balance = mark.rpartition("@")
        if not separator:
            return cls(op_id=mark)
        return cls(op_id=op_id, balance_after=int(balance))


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    op_id: str
    user_id: str
    delta: int
    kind: EntryKind
    reference: str
    balance_after: int
    created_at: datetime


class Balance(BaseModel):
    """The read model behind ``GET /wallet/balance``."""

    user_id: str
    balance: int
    updated_at: datetime

    @field_validator("updated_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # Stored times are UTC; nx-27017 returns a datetime written by `$set` without its zone.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class BalanceResult(BaseModel):
    balance: int


class WalletChanged(BaseModel):
    user_id: str
    amount: int
    balance: int
    kind: EntryKind
    op_id: str
