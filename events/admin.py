"""Platform commands an operator runs, and who may run them.

The gateway submits these on the ``admin`` queue and workers handle them; both
check the caller with ``require_admin``.
"""

from __future__ import annotations

from events.envelopes import Actor
from events.errors import Forbidden

ADMIN_ROLE = "admin"
LIST_DEAD_LETTERS = "admin.list_dead_letters"
SHOW_DEAD_LETTER = "admin.show_dead_letter"
REPLAY_DEAD_LETTER = "admin.replay_dead_letter"
ADMIN_COMMANDS = (LIST_DEAD_LETTERS, SHOW_DEAD_LETTER, REPLAY_DEAD_LETTER)


def require_admin(actor: Actor) -> None:
    """Forbidden unless the actor holds the admin role."""
    if ADMIN_ROLE not in actor.roles:
        raise Forbidden("this needs the admin role")
