"""A stream the log has forgotten but whose answer is stored: 410 naming its conversation."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.helpers import post_chat
from tests.support.servers import run_server


async def test_resuming_an_expired_stream_is_410_naming_its_conversation(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            response, events = await post_chat(http, {"message": "hi", "model": "replay"})
            stream_id = response.headers["x-stream-id"]
            conversation_id = response.headers["x-conversation-id"]
            server.call(server.hub.log.close())  # the log forgets every stream, as at expiry

            expired = await http.get(f"/api/streams/{stream_id}", params={"after": "1"})
            assert expired.status_code == 410, expired.text
            error = expired.json()["error"]
            assert error["code"] == "stream_expired"
            assert conversation_id in error["message"]
            assert expired.headers["x-conversation-id"] == conversation_id

            stored = (await http.get(f"/api/conversations/{conversation_id}")).json()
            text = "".join(e.payload.text for e in events if e.type == "delta")  # type: ignore[union-attr]
            assert stored["messages"][-1]["content"] == text

            unknown = await http.get("/api/streams/str_never")
            assert unknown.status_code == 404
            assert unknown.json()["error"]["code"] == "stream_not_found"
