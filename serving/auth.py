"""API keys: reading the configured keys and checking a presented one.

A key is configured either as itself or as ``sha256:<hex digest>`` of itself. Only
SHA-256 digests are kept in memory; a presented key is hashed and compared against
every configured digest with :func:`hmac.compare_digest`, so the time taken does not
depend on how much of a key matched. Keys never appear in logs or error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from ghost_model.errors import ConfigError
from ghost_model.settings import Settings

log = logging.getLogger(__name__)

KEY_HEADER = "X-API-Key"
DIGEST_PREFIX = "sha256:"
MIN_KEY_LENGTH = 16
PLACEHOLDER_KEYS = frozenset(
    {"changeme", "change-me", "secret", "password", "apikey", "api-key", "example"}
)

Role = Literal["api", "admin", "anonymous"]


@dataclass(frozen=True)
class KeyRing:
    """The SHA-256 digests of the service's keys, and whether keys are required."""

    api_digests: tuple[bytes, ...]
    admin_digests: tuple[bytes, ...]
    required: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """Read the keys of ``settings``; refuse to run keyless unless allowed.

        Parameters
        ----------
        settings
            The service settings (``GHOST_API_KEYS``, ``GHOST_ADMIN_KEYS``,
            ``GHOST_ALLOW_UNAUTHENTICATED``).

        Returns
        -------
        KeyRing
            Digests of the API and admin keys; an admin key also opens the API routes.

        Raises
        ------
        ConfigError
            A key is malformed or a placeholder, or no key is configured and running
            without authentication was not asked for.
        """
        admin = _read_keys(settings.admin_keys, "GHOST_ADMIN_KEYS")
        api = _read_keys(settings.api_keys, "GHOST_API_KEYS")
        if settings.allow_unauthenticated:
            return cls(api_digests=(), admin_digests=(), required=False)
        if not api and not admin:
            raise ConfigError(
                "no API keys configured: set GHOST_API_KEYS (and GHOST_ADMIN_KEYS for "
                "the admin routes) to comma-separated keys or sha256:<hex> digests, "
                "or run `ghost-model serve --insecure-no-auth` for local development"
            )
        return cls(api_digests=api + admin, admin_digests=admin, required=True)

    def role_of(self, presented: str | None) -> Role | None:
        """The role a presented key grants, or ``None`` when it grants none."""
        if not self.required:
            return "admin"
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        if _matches_any(digest, self.admin_digests):
            return "admin"
        if _matches_any(digest, self.api_digests):
            return "api"
        return None


def digest_of(key: str) -> str:
    """The ``sha256:<hex>`` form of ``key``, to configure a key without storing it."""
    return DIGEST_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _matches_any(digest: bytes, digests: Sequence[bytes]) -> bool:
    """Compare against every digest, without stopping at the first match."""
    found = False
    for candidate in digests:
        found |= hmac.compare_digest(digest, candidate)
    return found


def _read_keys(keys: Sequence[SecretStr], variable: str) -> tuple[bytes, ...]:
    """Turn configured keys into digests, naming the key's position on errors."""
    return tuple(
        _read_key(key.get_secret_value(), variable, position)
        for position, key in enumerate(keys, start=1)
    )


def _read_key(value: str, variable: str, position: int) -> bytes:
    if value.startswith(DIGEST_PREFIX):
        hex_digest = value.removeprefix(DIGEST_PREFIX).lower()
        if len(hex_digest) != 64 or set(hex_digest) - set(string.hexdigits):
            raise ConfigError(
                f"{variable}: entry {position} starts with {DIGEST_PREFIX!r} but is "
                "not followed by 64 hex digits; write sha256:<hexdigest of the key>"
            )
        return bytes.fromhex(hex_digest)
    if len(value) < MIN_KEY_LENGTH or value.lower() in PLACEHOLDER_KEYS:
        raise ConfigError(
            f"{variable}: entry {position} is too short or a placeholder; use at "
            f"least {MIN_KEY_LENGTH} random characters, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return hashlib.sha256(value.encode("utf-8")).digest()
