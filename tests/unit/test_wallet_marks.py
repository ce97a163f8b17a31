"""The wallet's in-flight marks: the operation and the balance its change left, in one string."""

from __future__ import annotations

from modules.wallet.models import InFlight


def test_a_mark_keeps_the_op_id_and_the_balance_the_change_left() -> None:
    """Written and read back, a mark gives the same op id (slashes, dots, colons and all)."""
    flight = InFlight(op_id="e1/wallet.open_wallet", balance_after=1005)
    assert flight.mark == "e1/wallet.open_wallet@1005"
    assert InFlight.parse(flight.mark) == flight
    assert InFlight.parse(InFlight(op_id="t1:debit", balance_after=-3).mark).balance_after == -3


def test_a_mark_from_before_balances_were_kept_is_the_op_id_alone() -> None:
    """An older wallet's mark parses to its op id with no balance (settled as before)."""
    assert InFlight.parse("c0ffee") == InFlight(op_id="c0ffee")
    assert InFlight(op_id="c0ffee").mark == "c0ffee"
