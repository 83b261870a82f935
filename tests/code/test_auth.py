"""Checks of the service's API keys: parsing, roles, refusals."""

from __future__ import annotations

import hashlib

import pytest

from ghost_model.errors import ConfigError
from ghost_model.settings import Settings
from serving.auth import KeyRing, digest_of

API_KEY = "api-key-for-tests-0123456789"
ADMIN_KEY = "admin-key-for-tests-0123456789"


def ring(**values: object) -> KeyRing:
    return KeyRing.from_settings(Settings.model_validate(values))


def test_grant_api_role_to_plain_key() -> None:
    """Check that a configured plain key grants the API role and nothing more."""
    keys = ring(api_keys=[API_KEY], admin_keys=[ADMIN_KEY])
    assert keys.role_of(API_KEY) == "api"


def test_grant_admin_role_to_admin_key() -> None:
    """Check that an admin key grants the admin role (which opens API routes too)."""
    keys = ring(api_keys=[API_KEY], admin_keys=[ADMIN_KEY])
    assert keys.role_of(ADMIN_KEY) == "admin"


def test_grant_role_to_key_configured_as_digest() -> None:
    """Check that a key configured as sha256:<hex> is accepted as the key itself."""
    keys = ring(api_keys=[digest_of(API_KEY)])
    assert keys.role_of(API_KEY) == "api"
    assert keys.role_of(digest_of(API_KEY)) is None


def test_grant_role_to_digest_in_upper_case() -> None:
    """Check that the hex digits of a digest may be upper case."""
    digest = hashlib.sha256(API_KEY.encode()).hexdigest().upper()
    assert ring(api_keys=[f"sha256:{digest}"]).role_of(API_KEY) == "api"


@pytest.mark.parametrize("presented", [None, "", "x", API_KEY[:-1], API_KEY + " "])
def test_deny_role_to_missing_or_unknown_key(presented: str | None) -> None:
    """Check that a missing, empty, truncated or padded key grants no role."""
    assert ring(api_keys=[API_KEY]).role_of(presented) is None


def test_read_comma_separated_keys_from_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Check that GHOST_API_KEYS holds several comma-separated keys and digests."""
    other = "second-api-key-0123456789"
    monkeypatch.setenv("GHOST_API_KEYS", f" {API_KEY} ,{digest_of(other)},")
    monkeypatch.setenv("GHOST_ADMIN_KEYS", ADMIN_KEY)
    keys = KeyRing.from_settings(Settings())
    assert [keys.role_of(k) for k in (API_KEY, other, ADMIN_KEY)] == [
        "api",
        "api",
        "admin",
    ]


def test_refuse_start_without_keys() -> None:
    """Check that no keys and no explicit keyless mode is a configuration error."""
    with pytest.raises(ConfigError, match=r"no API keys.*--insecure-no-auth"):
        ring()


def test_allow_every_caller_when_unauthenticated_is_explicit() -> None:
    """Check that the explicit keyless mode lets every caller in, even keyless."""
    keys = ring(allow_unauthenticated=True)
    assert not keys.required
    assert keys.role_of(None) == "admin"


@pytest.mark.parametrize(
    "bad", ["tiny-key", "changeme", "sha256:abc", "sha256:" + "g" * 64]
)
def test_refuse_weak_or_malformed_key(bad: str) -> None:
    """Check that short keys and malformed digests are refused without echoing them."""
    with pytest.raises(ConfigError, match="GHOST_API_KEYS: entry 2") as info:
        ring(api_keys=[API_KEY, bad])
    assert bad not in str(info.value)


def test_hide_keys_in_settings_repr() -> None:
    """Check that printing the settings does not reveal a key."""
    settings = Settings.model_validate({"api_keys": [API_KEY]})
    assert API_KEY not in repr(settings)
    assert API_KEY not in str(settings.model_dump())
