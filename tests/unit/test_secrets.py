"""The secrets chain: the most specific source wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.secrets import MissingSecret, SecretsChain

SOURCES = ("module", "global", "kubernetes", "local")


def make_chain(tmp_path: Path, environ: dict[str, str]) -> SecretsChain:
    return SecretsChain(
        global_dir=tmp_path / "global",
        kubernetes_dir=tmp_path / "kubernetes",
        local_dir=tmp_path / "local",
        environ=environ,
        modules_root=tmp_path / "modules",
    )


def source_dir(tmp_path: Path, source: str) -> Path:
    return tmp_path / "modules" / "wallet" / "secrets" if source == "module" else tmp_path / source


def write(tmp_path: Path, source: str, value: str) -> None:
    directory = source_dir(tmp_path, source)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "welcome_credits").write_text(f"{value}\n")


@pytest.mark.parametrize("winner", range(len(SOURCES)))
def test_each_directory_beats_everything_after_it(tmp_path: Path, winner: int) -> None:
    """module dir → global dir → Kubernetes → local dev → environment → default."""
    for source in SOURCES[winner:]:
        write(tmp_path, source, source)
    chain = make_chain(tmp_path, {"HOOKLINE_WELCOME_CREDITS": "env"})
    assert chain.resolve("welcome_credits", "default", module="wallet") == SOURCES[winner]


def test_environment_beats_default_and_module_variable_beats_global(tmp_path: Path) -> None:
    """``HOOKLINE_<MODULE>_<NAME>`` wins over ``HOOKLINE_<NAME>``, which wins over the default."""
    env = {"HOOKLINE_WELCOME_CREDITS": "global-env"}
    assert make_chain(tmp_path, env).resolve("welcome_credits", "7", "wallet") == "global-env"
    env["HOOKLINE_WALLET_WELCOME_CREDITS"] = "module-env"
    assert make_chain(tmp_path, env).resolve("welcome_credits", "7", "wallet") == "module-env"
    assert make_chain(tmp_path, {}).resolve("welcome_credits", "7", "wallet") == "7"


def test_module_dir_is_not_consulted_for_other_modules(tmp_path: Path) -> None:
    """A module's own secrets directory is private to it."""
    write(tmp_path, "module", "mine")
    assert make_chain(tmp_path, {}).resolve("welcome_credits", "other", module="audit") == "other"


def test_missing_secret_without_default_names_it(tmp_path: Path) -> None:
    """A secret found nowhere and without a default stops start-up, naming secret and module."""
    with pytest.raises(MissingSecret, match="'jwt_secret' for module 'wallet'"):
        make_chain(tmp_path, {}).resolve("jwt_secret", module="wallet")
