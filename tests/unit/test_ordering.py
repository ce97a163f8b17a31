"""Module load order, and the errors for missing and cyclic dependencies."""

from __future__ import annotations

import pytest

from modules import DependencyError, load_order


def test_dependencies_load_first() -> None:
    """Every module comes after all it depends on."""
    order = load_order({"wallet": ["users"], "transfers": ["wallet", "users"], "users": []})
    assert order == ["users", "wallet", "transfers"]


def test_independent_modules_load_by_name() -> None:
    """Without a dependency between them, modules load alphabetically, so the order is stable."""
    assert load_order({"zeta": [], "alpha": [], "mid": []}) == ["alpha", "mid", "zeta"]


def test_missing_dependency_names_both_modules() -> None:
    """A dependency on an unknown module stops start-up naming the module and what it lacks."""
    with pytest.raises(DependencyError, match="'wallet' depends on 'users'"):
        load_order({"wallet": ["users"]})


def test_cycle_names_the_modules_in_it() -> None:
    """A cycle is reported as the path around it, leaving out modules merely waiting on it."""
    with pytest.raises(DependencyError) as info:
        load_order({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": []})
    assert "a -> b -> c -> a" in str(info.value)
    assert "d" not in str(info.value).split(":")[-1]
