"""/tokens: the org's API tokens (the secret is shown once, at creation)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from web import tokens
from web.api.declare import Call, Id, In, Out, Page, Router

router = Router("tokens", "API tokens of the org")

Role = Literal["owner", "admin", "cashier", "support"]


class TokenOut(Out):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    read_only: bool
    role: Role = Field(description="What its requests may do: owner (everything), admin (all but tokens and "
                                   "accounts), cashier (read, record payments, sell vouchers), support (read, "
                                   "tickets, disconnect, the network side).")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The whole token: shown only in this response.")


class TokenIn(In):
    name: str = Field(min_length=1, max_length=80)
    read_only: bool = False
    role: Role = "owner"
    expires_at: datetime | None = Field(None, description="RFC 3339; none: never expires.")


class TokenPath(In):
    token_id: Id


@router.get("/tokens", summary="List the org's tokens")
async def list_tokens(call: Call) -> Page[TokenOut]:
    """Every token of the org that is not revoked, oldest first."""
    found = await call.read(tokens.list_tokens, call.org_id)
    return Page[TokenOut](items=[TokenOut.model_validate(t) for t in found], next_cursor=None)


@router.post("/tokens", summary="Create a token")
async def create_token(call: Call, body: TokenIn) -> TokenCreated:
    """A new token of the org; the response carries the token itself, once."""
    made = await call.write(tokens.create, call.org_id, body.name, call.now, read_only=body.read_only,
                            expires_at=body.expires_at, role=body.role, target="token")
    return TokenCreated.model_validate({**TokenOut.model_validate(made.token).model_dump(), "token": made.secret})


@router.delete("/tokens/{token_id}", summary="Revoke a token")
async def revoke_token(call: Call, path: TokenPath) -> TokenOut:
    """Revoke one of the org's tokens; it stops working within [api] token_cache_seconds."""
    t = await call.write(tokens.revoke, call.org_id, path.token_id, call.now, target=f"token {path.token_id}")
    return TokenOut.model_validate(t)
