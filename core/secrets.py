"""The secrets chain: where a secret's value comes from, most specific first.

module secrets dir → global secrets dir → Kubernetes secrets → local dev
secrets → environment → the declared default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import Settings
from events import ConfigurationError

MODULES_ROOT = Path(__file__).resolve().parent.parent / "modules"


class MissingSecret(ConfigurationError):
    problem = "missing-secret"
    title = "Missing secret"


@dataclass(frozen=True)
class SecretsChain:
    """Resolves a secret name through directories, then the environment, then a default."""

    global_dir: Path
    kubernetes_dir: Path
    local_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    modules_root: Path = MODULES_ROOT

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretsChain:
        return cls(
            global_dir=settings.secrets_dir,
            kubernetes_dir=settings.kubernetes_secrets_dir,
            local_dir=settings.local_secrets_dir,
        )

    def directories(self, module: str | None) -> list[Path]:
        dirs = [self.global_dir, self.kubernetes_dir, self.local_dir]
        if module is not None:
            dirs.insert(0, self.modules_root / module / "secrets")
        return dirs

    def lookup(self, name: str, module: str | None = None) -> str | None:
        """The first value found for ``name``, or None."""
        for directory in self.directories(module):
            path = directory / name
            if path.is_file():
                return path.read_text().strip()
        for key in self._env_keys(name, module):
            if key in self.environ:
                return self.environ[key]
        return None

    def resolve(self, name: str, default: str | None = None, module: str | None = None) -> str:
        value = self.lookup(name, module)
        if value is not None:
            return value
        if default is not None:
            return default
        where = f" for module {module!r}" if module else ""
        raise MissingSecret(f"secret {name!r}{where} is not set anywhere in the secrets chain")

    def resolve_all(
        self, declared: Sequence[tuple[str, str | None]], module: str
    ) -> dict[str, str]:
        return {name: self.resolve(name, default, module) for name, default in declared}

    @staticmethod
    def _env_keys(name: str, module: str | None) -> list[str]:
        keys = [f"HOOKLINE_{name.upper()}"]
        if module is not None:
            keys.insert(0, f"HOOKLINE_{module.upper()}_{name.upper()}")
        return keys
