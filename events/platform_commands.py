"""Platform commands an operator runs, and the permission each one needs.

The gateway submits these on the ``admin`` queue and workers handle them; both
check the caller's permission (``PERMISSION_OF``) against the role table:
listing and showing dead letters needs ``dead_letters:read`` (operators hold
it), replaying or purging one ``dead_letters:manage`` (admins only).
"""

from __future__ import annotations

from collections.abc import Mapping

LIST_DEAD_LETTERS = "admin.list_dead_letters"
SHOW_DEAD_LETTER = "admin.show_dead_letter"
REPLAY_DEAD_LETTER = "admin.replay_dead_letter"
PURGE_DEAD_LETTER = "admin.purge_dead_letter"
ADMIN_COMMANDS = (LIST_DEAD_LETTERS, SHOW_DEAD_LETTER, REPLAY_DEAD_LETTER, PURGE_DEAD_LETTER)

READ_DEAD_LETTERS = "dead_letters:read"
MANAGE_DEAD_LETTERS = "dead_letters:manage"
PERMISSION_OF: Mapping[str, str] = {
    LIST_DEAD_LETTERS: READ_DEAD_LETTERS,
    SHOW_DEAD_LETTER: READ_DEAD_LETTERS,
    REPLAY_DEAD_LETTER: MANAGE_DEAD_LETTERS,
    PURGE_DEAD_LETTER: MANAGE_DEAD_LETTERS,
}
