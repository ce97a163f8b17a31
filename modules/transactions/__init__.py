"""Transfers between users."""

from modules.transactions.module import TransactionsModule

__all__ = ["TransactionsModule"]
