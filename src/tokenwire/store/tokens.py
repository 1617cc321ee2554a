"""API tokens: bearer secrets that map to users, kept only as SHA-256 hashes.

A token is shown once, when it is created. Tokens carry 256 random bits, so a fast hash is the
right one: there is nothing to brute-force, and the lookup must stay cheap on every request. Each
token has a short public id (a prefix of its hash) for listing and revoking it without showing it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from tokenwire.errors import TokenwireError
from tokenwire.store.database import Database

TOKEN_PREFIX = "tw_"
USER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


class InvalidUser(TokenwireError, ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_user(user: str) -> str:
    if not USER_PATTERN.fullmatch(user):
        raise InvalidUser(
            "a user name is 1 to 64 letters, digits or . _ @ + - and starts with a letter or digit"
        )
    return user


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    user: str
    name: str
    created_at: float


class TokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, user: str, *, name: str = "") -> tuple[str, TokenInfo]:
        """A new token for ``user``: the secret (shown once) and what is kept about it."""
        check_user(user)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = hash_token(token)
        info = TokenInfo(id=digest[:12], user=user, name=name, created_at=time.time())
        await self.db.execute(
            "INSERT INTO api_tokens (id, token_hash, user_name, name, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (info.id, digest, user, name, info.created_at),
        )
        return token, info

    async def user_for(self, token: str) -> str | None:
        """The user a token belongs to, or None for an unknown or revoked one."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = await self.db.fetchone(
            "SELECT user_name FROM api_tokens WHERE token_hash = ?", (hash_token(token),)
        )
        return None if row is None else str(row[0])

    async def any(self) -> bool:
        return await self.db.fetchone("SELECT 1 FROM api_tokens LIMIT 1") is not None

    async def list(self, user: str | None = None) -> list[TokenInfo]:
        sql = "SELECT id, user_name, name, created_at FROM api_tokens"
        params: tuple[str, ...] = ()
        if user is not None:
            sql, params = sql + " WHERE user_name = ?", (user,)
        rows = await self.db.fetchall(sql + " ORDER BY created_at, id", params)
        return [TokenInfo(r[0], r[1], r[2], r[3]) for r in rows]

    async def revoke(self, token_id: str) -> bool:
        return await self.db.execute("DELETE FROM api_tokens WHERE id = ?", (token_id,)) > 0
