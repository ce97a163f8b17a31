"""Module and orchestrator packages other than the defaults (how the benchmark loads its probe)."""

from __future__ import annotations

import pytest

from bench.probe import MODULE_PACKAGE, ORCHESTRATOR_PACKAGE
from bench.probe.modules.probe import ProbeModule
from bench.probe.orchestrators.probe import ProbeOrchestrator
from core.settings import Settings
from events import RegistrationError
from modules import discover
from workers.bootstrap import Blueprint
from workers.orchestrator import Orchestrator
from workers.orchestrators import orchestrator_for


def test_package_settings_default_to_the_shipped_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, modules come from `modules` and orchestrators from `workers.orchestrators`."""
    monkeypatch.delenv("HOOKLINE_MODULE_PACKAGES", raising=False)
    monkeypatch.delenv("HOOKLINE_ORCHESTRATOR_PACKAGES", raising=False)
    settings = Settings()
    assert settings.module_packages == ("modules",)
    assert settings.orchestrator_packages == ("workers.orchestrators",)


def test_package_settings_are_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOOKLINE_MODULE_PACKAGES and HOOKLINE_ORCHESTRATOR_PACKAGES take several packages."""
    monkeypatch.setenv("HOOKLINE_MODULE_PACKAGES", f"modules, {MODULE_PACKAGE}")
    monkeypatch.setenv("HOOKLINE_ORCHESTRATOR_PACKAGES", ORCHESTRATOR_PACKAGE)
    settings = Settings()
    assert settings.module_packages == ("modules", MODULE_PACKAGE)
    assert settings.orchestrator_packages == (ORCHESTRATOR_PACKAGE,)


def test_default_discovery_never_finds_the_probe() -> None:
    """The probe lives outside `modules/`, so production never loads it."""
    assert "probe" not in discover()


def test_discovery_scans_the_packages_it_is_given() -> None:
    """With the probe's package added, the probe is found beside the reference modules."""
    found = discover(packages=("modules", MODULE_PACKAGE))
    assert found["probe"] is ProbeModule
    assert "audit" in found


def test_a_module_name_found_twice_stops_discovery() -> None:
    """Two packages defining the same module name is a startup error naming it."""
    with pytest.raises(RegistrationError, match=r"module '\w+' is defined in 'modules\."):
        discover(packages=("modules", "modules"))


def test_orchestrators_are_found_in_the_packages_given() -> None:
    """The probe's orchestrator comes from its package; without it, the plain base is used."""
    assert orchestrator_for(ProbeModule, (ORCHESTRATOR_PACKAGE,)) is ProbeOrchestrator
    assert orchestrator_for(ProbeModule) is Orchestrator


def test_blueprint_from_settings_uses_both_package_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker configured for the probe alone checks and queues only the probe."""
    monkeypatch.setenv("HOOKLINE_MODULE_PACKAGES", MODULE_PACKAGE)
    monkeypatch.setenv("HOOKLINE_ORCHESTRATOR_PACKAGES", ORCHESTRATOR_PACKAGE)
    blueprint = Blueprint.from_settings(Settings())
    assert blueprint.order == ("probe",)
    assert blueprint.orchestrator_packages == (ORCHESTRATOR_PACKAGE,)
    assert "probe_done" in blueprint.catalogue


def test_probe_without_its_orchestrator_fails_the_blueprint_check() -> None:
    """Loaded with the default orchestrator packages, the probe's handlers are missing."""
    with pytest.raises(RegistrationError, match="'work'"):
        Blueprint.from_classes({"probe": ProbeModule})
