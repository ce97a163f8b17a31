"""The credits wallet: welcome credits, balance, deposit and withdraw; never negative."""

from __future__ import annotations

from collections.abc import Mapping

from events import ConfigurationError, Conflict, EventSpec, InvalidInput
from modules.base import BaseModule
from modules.declarations import Hook, Index, Permission, Route, RouteMode, Secret
from modules.wallet.models import (
    AMOUNT_CEILING_CREDITS,
    AmountRequest,
    Balance,
    BalanceResult,
    EntryKind,
    Operation,
    WalletChanged,
)

# The Redis view this module publishes (``read_models``); its query route serves it.
BALANCE_VIEW = "balance"


class InsufficientFunds(Conflict):
    problem = "insufficient-funds"
    title = "Insufficient funds"


class WalletModule(BaseModule):
    name = "wallet"
    read_models = (BALANCE_VIEW,)
    description = "A balance of whole credits per user, changed only through ledgered operations."
    dependencies = ("user_management",)
    permissions = (
        Permission("wallet:read", description="Read your balance"),
        Permission("wallet:deposit", description="Add credits to your wallet"),
        Permission("wallet:withdraw", description="Take credits from your wallet"),
    )
    routes = (
        Route(
            "GET",
            "/wallet/balance",
            "balance",
            permission="wallet:read",
            users_only=True,
            mode=RouteMode.QUERY,
            read_model=BALANCE_VIEW,
            summary="The caller's balance",
            response=Balance,
        ),
        Route(
            "POST",
            "/wallet/deposit",
            "deposit",
            request=AmountRequest,
            permission="wallet:deposit",
            users_only=True,
            summary="Add credits to the caller's wallet",
            serialize_by="actor",
            response=BalanceResult,
        ),
        Route(
            "POST",
            "/wallet/withdraw",
            "withdraw",
            request=AmountRequest,
            permission="wallet:withdraw",
            users_only=True,
            summary="Take credits from the caller's wallet",
            serialize_by="actor",
            response=BalanceResult,
        ),
    )
    # Critical: a user whose wallet could not be opened gets no welcome message and no
    # audit record yet; those hooks of user_created wait until a retry opens it.
    hooks = (
        Hook(
            "user_created",
            "open_wallet",
            priority=10,
            context="welcome credits",
            critical=True,
        ),
    )
    events = (
        EventSpec(
            "wallet_credited",
            WalletChanged,
            "Credits were added to a wallet.",
            subjects=("user_id",),
        ),
        EventSpec(
            "wallet_debited",
            WalletChanged,
            "Credits were taken from a wallet.",
            subjects=("user_id",),
        ),
    )
    secrets = (
        Secret("welcome_credits", "100", "Credits a new user starts with."),
        Secret("max_amount", "1000000", "The largest single deposit or withdrawal."),
    )
    indexes = (Index("ledger", (("user_id", 1), ("created_at", -1))),)

    welcome_credits: int
    max_amount: int

    def initialize(self, secrets: Mapping[str, str]) -> None:
        super().initialize(secrets)
        self.welcome_credits = _non_negative_int(secrets, "welcome_credits")
        self.max_amount = _non_negative_int(secrets, "max_amount")
        if self.max_amount > AMOUNT_CEILING_CREDITS:
            raise ConfigurationError(
                f"wallet secret 'max_amount' must not exceed {AMOUNT_CEILING_CREDITS}"
            )

    def check_amount(self, amount: int) -> int:
        if amount > self.max_amount:
            raise InvalidInput(
                f"amount: at most {self.max_amount} credits at a time", field="amount"
            )
        return amount

    def welcome(self, user_id: str, event_id: str, run_id: str) -> Operation:
        """The welcome credits of hook run ``run_id`` on ``user_created`` ``event_id``; the
        run id is the operation's id, so a re-run of the hook applies nothing new."""
        return Operation(
            op_id=run_id,
            user_id=user_id,
            delta=self.welcome_credits,
            kind=EntryKind.WELCOME,
            reference=event_id,
        )

    def deposit(self, user_id: str, amount: int, command_id: str) -> Operation:
        return Operation(
            op_id=command_id,
            user_id=user_id,
            delta=self.check_amount(amount),
            kind=EntryKind.DEPOSIT,
            reference=command_id,
        )

    def withdrawal(self, user_id: str, amount: int, command_id: str) -> Operation:
        return Operation(
            op_id=command_id,
            user_id=user_id,
            delta=-self.check_amount(amount),
            kind=EntryKind.WITHDRAWAL,
            reference=command_id,
        )

    @staticmethod
    def insufficient(operation: Operation, balance: int) -> InsufficientFunds:
        return InsufficientFunds(
            f"the balance of {balance} does not cover {-operation.delta} credits",
            balance=balance,
        )

    @staticmethod
    def changed_event(operation: Operation, balance: int) -> tuple[str, WalletChanged]:
        name = "wallet_credited" if operation.delta > 0 else "wallet_debited"
        return name, WalletChanged(
            user_id=operation.user_id,
            amount=abs(operation.delta),
            balance=balance,
            kind=operation.kind,
            op_id=operation.op_id,
        )


def _non_negative_int(secrets: Mapping[str, str], name: str) -> int:
    value = secrets[name]
    if not value.isdigit():
        raise ConfigurationError(f"wallet secret {name!r} must be a whole number, got {value!r}")
    return int(value)
