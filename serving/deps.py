"""The dependencies of the routes, declared once so tests can override them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from ghost_model.settings import Settings
from serving.auth import KEY_HEADER, KeyRing, Role
from serving.middleware import STATE_SCOPE_KEY
from serving.state import ServiceState

api_key_header = APIKeyHeader(
    name=KEY_HEADER,
    auto_error=False,
    description="A key from GHOST_API_KEYS (or GHOST_ADMIN_KEYS).",
)


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_state(request: Request) -> ServiceState:
    """The current model and snapshot; 503 until they are loaded."""
    state: ServiceState | None = request.scope.get(STATE_SCOPE_KEY)
    if state is None:
        raise HTTPException(
            status_code=503,
            detail="no model or snapshot loaded yet; GET /readyz says why",
        )
    return state


async def require_key(
    request: Request, key: Annotated[str | None, Security(api_key_header)]
) -> Role:
    """The caller's role; 401 without a known key in the X-API-Key header."""
    keys: KeyRing = request.app.state.keys
    role = keys.role_of(key)
    if role is None:
        raise HTTPException(
            status_code=401,
            detail=f"missing or unknown API key: send a key in the {KEY_HEADER} header",
            headers={"WWW-Authenticate": f'APIKey header="{KEY_HEADER}"'},
        )
    return role


async def require_admin_key(role: Annotated[Role, Depends(require_key)]) -> Role:
    """The caller's role when it is admin; 403 for a key without admin rights."""
    if role != "admin":
        raise HTTPException(
            status_code=403,
            detail="this route needs an admin key (one from GHOST_ADMIN_KEYS)",
        )
    return role


ApiKey = Annotated[Role, Depends(require_key)]
AdminKey = Annotated[Role, Depends(require_admin_key)]
CurrentState = Annotated[ServiceState, Depends(get_state)]
AppSettings = Annotated[Settings, Depends(get_settings)]
