"""Settings read from the environment: the PII key and friends.

There is deliberately no built-in default key: a pipeline without a key refuses to start.
"""
import os
from pathlib import Path
from typing import Optional

PII_KEY_ENV = "SENSORY_PII_KEY"
PII_KEY_FILE_ENV = "SENSORY_PII_KEY_FILE"
MIN_KEY_BYTES = 16


class ConfigurationError(ValueError):
    """A setting is missing or invalid; the message says how to fix it."""


def load_pii_key(key_file: Optional[str] = None) -> bytes:
    """Returns the HMAC key for the privacy shield.

    The key file wins over the environment so that an explicit ``--pii_key_file`` is never
    silently overridden by a stale exported variable.

    Args:
        key_file: Path of a file holding the key (surrounding whitespace is ignored). Falls back
            to ``$SENSORY_PII_KEY_FILE``, then to ``$SENSORY_PII_KEY``.

    Returns:
        The key as bytes.

    Raises:
        ConfigurationError: No key is configured, the file is unreadable, or the key is shorter
            than 16 bytes.
    """
    key_file = key_file or os.environ.get(PII_KEY_FILE_ENV)
    if key_file:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as err:
            raise ConfigurationError(f"cannot read PII key file {key_file!r}: {err.strerror}") from err
        origin = f"key file {key_file!r}"
    else:
        key = os.environ.get(PII_KEY_ENV, "").strip().encode()
        origin = f"${PII_KEY_ENV}"
        if not key:
            raise ConfigurationError(
                f"no PII key: set {PII_KEY_ENV} or pass --pii_key_file=PATH. Sensory hashes "
                "personal data with a secret key and has no built-in default; create one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))' > pii.key`.")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"the PII key from {origin} is {len(key)} bytes; use at least {MIN_KEY_BYTES}")
    return key


# Runners whose pipelines run on a Flink cluster (class names, lower case).
FLINK_RUNNERS = frozenset({"flinkrunner", "portablerunner"})


def pick_for_runner(choice: str, runner: Optional[str], *, on_flink: str, elsewhere: str,
                    what: str) -> str:
    """Resolves an ``auto | elsewhere | on_flink`` option for the pipeline's runner.

    Args:
        choice: The option's value.
        runner: The pipeline's ``--runner`` (class name, dotted path or None).
        on_flink: What ``auto`` means on FlinkRunner/PortableRunner.
        elsewhere: What ``auto`` means on any other runner.
        what: The option's name, for the error message.

    Returns:
        ``on_flink`` or ``elsewhere``.

    Raises:
        ValueError: ``choice`` is none of the three.
    """
    choices = ("auto", elsewhere, on_flink)
    if choice not in choices:
        raise ValueError(f"{what} must be one of {choices}, got {choice!r}")
    if choice != "auto":
        return choice
    name = (runner or "").rsplit(".", 1)[-1].lower()
    return on_flink if name in FLINK_RUNNERS else elsewhere
