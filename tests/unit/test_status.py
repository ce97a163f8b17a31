"""The command status lifecycle."""

from __future__ import annotations

import itertools

import pytest

from events import CommandStatus, InvalidTransition, check_transition, predecessors
from events.status import ALLOWED

S = CommandStatus
PERMITTED = {
    (S.PUBLISHING, S.ACCEPTED),
    (S.PUBLISHING, S.REFUSED),
    (S.SCHEDULED, S.ACCEPTED),
    (S.SCHEDULED, S.CANCELLED),
    (S.SCHEDULED, S.EXPIRED),
    (S.ACCEPTED, S.RUNNING),
    (S.ACCEPTED, S.CANCELLED),
    (S.ACCEPTED, S.EXPIRED),
    (S.RUNNING, S.CANCELLED),
    (S.RETRYING, S.CANCELLED),
    (S.RUNNING, S.RUNNING),
    (S.RUNNING, S.RETRYING),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.DEAD),
    (S.RETRYING, S.RUNNING),
    (S.RETRYING, S.DEAD),
    (S.DEAD, S.ACCEPTED),
}
REFUSED = sorted(set(itertools.product(S, S)) - PERMITTED)


@pytest.mark.parametrize(("current", "target"), sorted(PERMITTED))
def test_lifecycle_transitions_are_allowed(current: S, target: S) -> None:
    """accepted → running → succeeded | failed, retrying between runs, dead at the end."""
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_other_transitions_are_refused(current: S, target: S) -> None:
    """Every transition outside the lifecycle raises, e.g. succeeded → running."""
    with pytest.raises(InvalidTransition, match=f"from {current} to {target}"):
        check_transition(current, target)


def test_succeeded_failed_and_refused_have_no_way_out() -> None:
    """Succeeded, failed and refused are final; refused is terminal (it never ran)."""
    assert not ALLOWED[S.SUCCEEDED] and not ALLOWED[S.FAILED] and not ALLOWED[S.REFUSED]
    assert S.REFUSED.is_terminal and not S.PUBLISHING.is_terminal


def test_cancelled_and_expired_are_final_and_never_ran() -> None:
    """A cancelled or expired command is done: nothing follows, and neither status is
    reached from a finished command."""
    for status in (S.CANCELLED, S.EXPIRED):
        assert status.is_terminal and not ALLOWED[status]
    assert predecessors(S.EXPIRED) == {S.SCHEDULED, S.ACCEPTED}
    assert predecessors(S.CANCELLED) == {S.SCHEDULED, S.ACCEPTED, S.RUNNING, S.RETRYING}


def test_dead_only_reopens_to_accepted() -> None:
    """Dead is terminal, and its one way out is an operator's replay back to accepted;
    the other ways into accepted are the gateway's confirmation of a publish and the
    release of a scheduled command."""
    assert S.DEAD.is_terminal
    assert ALLOWED[S.DEAD] == {S.ACCEPTED}
    assert predecessors(S.ACCEPTED) == {S.DEAD, S.PUBLISHING, S.SCHEDULED}


def test_predecessors_mirror_the_table() -> None:
    """The Redis script's allowed-from list is derived from the same table."""
    assert predecessors(S.SUCCEEDED) == {S.RUNNING}
    assert predecessors(S.RUNNING) == {S.ACCEPTED, S.RUNNING, S.RETRYING}
