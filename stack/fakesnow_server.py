"""Runs the fakesnow Snowflake emulator's HTTP server with its data kept on disk.

``fakesnow -s`` keeps everything in memory; here the server's shared instance is pointed at a
folder first, so data survives a restart of the stack. Internal stages' files go to
``--stage-path`` (fakesnow would put them in a new ``/tmp/fakesnow_bucket_*`` folder at every
start and never delete it).

Usage: ``python -m sensory.stack.fakesnow_server --port 8765 --db-path .local/snowflake/db``
"""
import argparse
import os
from pathlib import Path


def prune_empty_dirs(root: Path) -> int:
    """Removes the empty folders under ``root`` (not ``root`` itself); returns how many.

    A loaded and purged stage leaves its folder behind, one per load of the sink. Run at start
    only, when no upload can be between creating a folder and writing into it.
    """
    removed = 0
    for folder, subfolders, files in os.walk(root, topdown=False):
        if Path(folder) != root and not files and not os.listdir(folder):
            os.rmdir(folder)
            removed += 1
    return removed


def main() -> None:
    """Parses the arguments and serves until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-path", required=True)
    parser.add_argument("--stage-path", default=None,
                        help="folder of internal stages' files (default: 'stages' beside "
                             "--db-path)")
    args = parser.parse_args()
    os.makedirs(args.db_path, exist_ok=True)
    stages = Path(args.stage_path or Path(args.db_path).resolve().parent / "stages").resolve()
    stages.mkdir(parents=True, exist_ok=True)
    prune_empty_dirs(stages)

    import uvicorn  # pylint: disable=import-outside-toplevel
    import fakesnow.server  # pylint: disable=import-outside-toplevel
    from fakesnow.instance import FakeSnow  # pylint: disable=import-outside-toplevel
    from fakesnow.transforms import stage  # pylint: disable=import-outside-toplevel

    # The folder fakesnow made at import is still empty; every user reads the module attribute.
    os.rmdir(stage.LOCAL_BUCKET_PATH)
    stage.LOCAL_BUCKET_PATH = str(stages)
    fakesnow.server.shared_fs = FakeSnow(db_path=args.db_path)
    uvicorn.run(fakesnow.server.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
