"""Records of the ``/v1/responses`` API's responses: which stream answers each, what it echoes of
its request, the input items of its ``previous_response_id`` chain, and its final ``Response``.

The stream log holds the events only for its retention time; the final ``Response`` is stored
when the stream ends, so a retrieve after that still answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from tokenwire.store.database import Database


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    id: str
    owner: str
    stream_id: str
    spec: dict[str, Any]
    context: list[dict[str, Any]]
    response: dict[str, Any] | None
    created_at: float


_COLUMNS = "id, owner, stream_id, spec, context, response, created_at"


class ResponseStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        response_id: str,
        owner: str,
        stream_id: str,
        spec: dict[str, Any],
        context: list[dict[str, Any]],
    ) -> None:
        await self.db.execute(
            f"INSERT INTO responses ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (
                response_id,
                owner,
                stream_id,
                orjson.dumps(spec).decode(),
                orjson.dumps(context).decode(),
                time.time(),
            ),
        )

    async def finish(self, response_id: str, response: dict[str, Any]) -> None:
        await self.db.execute(
            "UPDATE responses SET response = ? WHERE id = ?",
            (orjson.dumps(response).decode(), response_id),
        )

    async def get(self, owner: str, response_id: str) -> ResponseRecord | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM responses WHERE id = ? AND owner = ?", (response_id, owner)
        )
        if row is None:
            return None
        return ResponseRecord(
            id=row[0],
            owner=row[1],
            stream_id=row[2],
            spec=orjson.loads(row[3]),
            context=orjson.loads(row[4]),
            response=None if row[5] is None else orjson.loads(row[5]),
            created_at=row[6],
        )

    async def delete(self, owner: str, response_id: str) -> bool:
        count = await self.db.execute(
            "DELETE FROM responses WHERE id = ? AND owner = ?", (response_id, owner)
        )
        return count > 0
