"""Requests, records and event payloads of the transactions module."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from modules.user_management.models import Username
from modules.wallet.models import AMOUNT_CEILING_CREDITS


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    to_username: Username
    amount: StrictInt = Field(
        gt=0, le=AMOUNT_CEILING_CREDITS, description="whole credits, more than zero"
    )


class TransferState(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"


class Transfer(BaseModel):
    """A transfer record; its id derives from the command, so a redelivery finds it."""

    model_config = ConfigDict(frozen=True)

    id: str
    from_user_id: str
    to_user_id: str
    from_username: str
    to_username: str
    amount: int
    state: TransferState
    created_at: datetime
    command_id: str


class HistoryItem(BaseModel):
    """One line of a user's history, as ``GET /transactions`` lists it."""

    transfer_id: str
    direction: str
    counterparty: str
    amount: int
    created_at: datetime


class TransferResult(BaseModel):
    transfer_id: str
    balance: int


class TransferCompleted(BaseModel):
    transfer_id: str
    from_user_id: str
    to_user_id: str
    from_username: str
    to_username: str
    amount: int
