"""Helpers for the secrets-never-in-logs tests: random secrets, a DEBUG capture, a file scan."""
import contextlib
import io
import logging
import os
import secrets
from pathlib import Path
from typing import Iterator


def random_secret(label: str) -> str:
    """A recognisable random value, long enough that a chance match is impossible."""
    return f"{label}-{secrets.token_hex(12)}"


@contextlib.contextmanager
def debug_log_capture() -> Iterator[io.StringIO]:
    """Every log record of every logger (root at DEBUG, third-party loggers included)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    # Loggers that set their own level would hide records from the root handler.
    quiet = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
             if isinstance(logger, logging.Logger) and logger.level > logging.DEBUG}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


def files_text(folder: str) -> str:
    """The contents of every file under ``folder``, as text (bytes decoded leniently)."""
    parts = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def leaks(text: str, values: dict[str, str]) -> dict[str, list[str]]:
    """For each secret found in ``text``, the lines that hold it (empty dict: no leak)."""
    found = {}
    for name, value in values.items():
        if value and value in text:
            found[name] = [line[:300] for line in text.splitlines() if value in line][:5]
    return found


def environ_snapshot(names) -> dict:
    """The current values of ``names`` (for a report in a failure message)."""
    return {name: os.environ.get(name) for name in names}
