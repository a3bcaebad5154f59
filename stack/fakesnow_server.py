"""Runs the fakesnow Snowflake emulator's HTTP server with its data kept on disk.

``fakesnow -s`` keeps everything in memory; here the server's shared instance is pointed at a
folder first, so data survives a restart of the stack.

Usage: ``python -m sensory.stack.fakesnow_server --port 8765 --db-path .local/snowflake/db``
"""
import argparse
import os


def main() -> None:
    """Parses the arguments and serves until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-path", required=True)
    args = parser.parse_args()
    os.makedirs(args.db_path, exist_ok=True)

    import uvicorn  # pylint: disable=import-outside-toplevel
    import fakesnow.server  # pylint: disable=import-outside-toplevel
    from fakesnow.instance import FakeSnow  # pylint: disable=import-outside-toplevel

    fakesnow.server.shared_fs = FakeSnow(db_path=args.db_path)
    uvicorn.run(fakesnow.server.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
