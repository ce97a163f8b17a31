"""Transfers between users."""

from modules.transactions.module import HISTORY_VIEW, TransactionsModule

__all__ = ["HISTORY_VIEW", "TransactionsModule"]
