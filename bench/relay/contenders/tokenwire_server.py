"""tokenwire as a relay: one ``openai`` model, ``bench``, in front of the stub, served by uvicorn.

Run: ``python -m bench.relay.contenders.tokenwire_server --port 8001 --upstream http://127.0.0.1:9100``
"""

from __future__ import annotations

import argparse
import tempfile

import uvicorn

from tokenwire.config import ModelConfig, load_settings
from tokenwire.server.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="tokenwire-bench-")
    model = ModelConfig(
        id="bench",
        provider="openai",
        base_url=f"{args.upstream}/v1",
        first_token_timeout=300.0,
        idle_timeout=300.0,
    )
    settings = load_settings(
        env={},
        models=(model,),
        database_url=f"sqlite:///{data}/bench.db",
        max_streams=50_000,
        max_readers_per_ip=0,  # every stream comes from the load generator's one address
    )
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
