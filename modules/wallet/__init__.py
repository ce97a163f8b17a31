"""The credits wallet."""

from modules.wallet.module import BALANCE_VIEW, InsufficientFunds, WalletModule

__all__ = ["BALANCE_VIEW", "InsufficientFunds", "WalletModule"]
