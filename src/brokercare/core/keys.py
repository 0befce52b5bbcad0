"""Where secret keys come from: the environment, a key source the broker plugs in (a KMS or HSM
client), or 0600 files in a key directory that is never the data directory.

Keys beside the data are stolen with the data: a copy of the data dir (a backup, a support
bundle) must not carry the master key that unwraps the personal data's keys, nor the ledger's
signing key, nor the token secret. :func:`secret` is the one way in; a KMS-backed deployment
sets ``BROKERCARE_KEY_SOURCE=package.module:factory`` to an object with the :class:`KeySource`
method and nothing else changes. Key files of older installs found in the data dir are moved out
on first use.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from brokercare.core.settings import get_settings

log = logging.getLogger(__name__)

# name → (environment variable, file name)
KEYS = {
    "master": ("BROKERCARE_MASTER_KEY", "master.key"),
    "ledger_signing": ("BROKERCARE_LEDGER_SIGNING_KEY", "ledger_ed25519.key"),
    "jwt": ("BROKERCARE_SECRET_KEY", "jwt.secret"),
    "csrf": ("BROKERCARE_CSRF_SECRET", "csrf.secret"),
}


class KeySource(Protocol):
    def secret(self, name: str, make: Callable[[], bytes]) -> bytes:
        """The key called ``name`` (see :data:`KEYS`); ``make`` creates it on first use where the
        source can store one (a KMS that cannot returns its own or raises)."""


def key_dir() -> Path:
    """``BROKERCARE_KEY_DIR``, or ``<data_dir>-keys`` beside (never inside) the data directory."""
    settings = get_settings()
    data = Path(os.path.abspath(settings.data_dir))
    path = Path(os.path.abspath(settings.key_dir)) if settings.key_dir else data.parent / f"{data.name}-keys"
    if path == data or data in path.parents:
        raise ValueError(f"the key directory {path} must be outside the data directory {data}")
    return path


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)


class LocalKeys:
    """The environment variable of each key, else its 0600 file in :func:`key_dir`."""

    def secret(self, name: str, make: Callable[[], bytes]) -> bytes:
        env, filename = KEYS[name]
        settings = get_settings()  # reads .env too
        value = getattr(settings, env.removeprefix("BROKERCARE_").lower(), None) or os.environ.get(env)
        if value:
            return value.encode("utf-8")
        folder = key_dir()
        path = folder / filename
        legacy = Path(get_settings().data_dir) / filename
        if not path.exists() and legacy.exists():
            _private_dir(folder)
            os.replace(legacy, path)
            log.warning("moved %s out of the data directory to %s", legacy, path)
        if not path.exists():
            _private_dir(folder)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: use theirs
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(make())
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return path.read_bytes()


_local = LocalKeys()


def key_source() -> KeySource:
    spec = os.environ.get("BROKERCARE_KEY_SOURCE")
    if not spec:
        return _local
    module, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    return factory() if callable(factory) and not hasattr(factory, "secret") else factory


def secret(name: str, make: Callable[[], bytes]) -> bytes:
    return key_source().secret(name, make)
