"""How many wrong passwords an account takes before logins to it must wait, and how long.

Rate limits per address do not stop a guesser with many addresses, so failed
logins are also counted per account (by its email key, whoever sends them).
After ``allowed`` failures within ``window_s`` the account is closed to logins
for a delay that doubles with each further failure (1 s, 2 s, 4 s, … up to
``max_delay_s``). An attempt while it is closed is refused without looking at
the password — the right one included — and counts as a failure too, so a
guesser who keeps going keeps it closed longer; a successful login clears the
count. Unknown emails are counted and closed exactly like known ones, so the
refusal tells nobody whether an account exists.

The decision is pure: the orchestrator keeps the attempt times in Redis
(``core/security/attempts.py``), shared by every worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from events import ConfigurationError, TooManyAttempts


@dataclass(frozen=True)
class LoginThrottle:
    allowed: int = 5
    window_s: int = 900
    base_delay_s: float = 1.0
    max_delay_s: float = 900.0

    def __post_init__(self) -> None:
        if self.allowed < 1 or self.window_s < 1:
            raise ConfigurationError(
                "login_failures_allowed and login_failure_window_s must be at least 1"
            )
        if not 0 < self.base_delay_s <= self.max_delay_s:
            raise ConfigurationError("login_lock_base_s must be > 0 and not above login_lock_max_s")
        if self.max_delay_s > self.window_s:  # failures older than the window are forgotten
            raise ConfigurationError("login_lock_max_s must not exceed login_failure_window_s")

    @property
    def remembered(self) -> int:
        """How many of an account's latest failures matter: past these the delay is capped."""
        doublings = math.ceil(math.log2(self.max_delay_s / self.base_delay_s))
        return self.allowed + doublings + 1

    def delay_after(self, failures: int) -> float:
        """How long the account stays closed after its ``failures``-th failure in the window."""
        if failures < self.allowed:
            return 0.0
        doublings = min(failures - self.allowed, self.remembered)
        return min(self.max_delay_s, self.base_delay_s * float(2**doublings))

    def closed_for(self, failures: Sequence[float], now: float) -> float:
        """Seconds the account is still closed at ``now``, given its failure times (epoch s)."""
        recent = [t for t in failures if now - self.window_s < t <= now]
        if not recent:
            return 0.0
        return max(0.0, max(recent) + self.delay_after(len(recent)) - now)

    def check(self, failures: Sequence[float], now: float) -> None:
        """Refuse an attempt at ``now`` while the account is closed (``TooManyAttempts``).

        ``failures`` are the attempts before this one that did not succeed; this one,
        refused, is one more, and the account stays closed for the delay that follows it.
        """
        if self.closed_for(failures, now) > 0:
            recent = sum(1 for t in failures if now - self.window_s < t <= now)
            wait_s = max(1, math.ceil(self.delay_after(recent + 1)))
            raise TooManyAttempts(
                f"too many failed logins for this account; try again in {wait_s} s",
                retry_after_s=wait_s,
            )
