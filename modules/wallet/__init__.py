"""The credits wallet."""

from modules.wallet.module import InsufficientFunds, WalletModule

__all__ = ["InsufficientFunds", "WalletModule"]
