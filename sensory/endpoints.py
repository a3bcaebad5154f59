"""Addresses of the local stack's services, as the clients of every layer see them.

Each port has an environment override (``SENSORY_KAFKA_PORT``, ``SENSORY_REDIS_PORT``, ...), so
two checkouts can run two stacks side by side and every default — pipeline options, CLI
commands, tests — follows the same variables. The stack itself reads its ports from here too.
"""
import os
from urllib.parse import urlsplit, urlunsplit

from sensory import stack_secrets

HOST = "127.0.0.1"

# Beam declares --bootstrap_servers itself (KafkaStreamsRunnerOptions) with this default;
# seeing it means the user did not choose a broker.
BEAM_DEFAULT_BOOTSTRAP = "localhost:9092"


def port(name: str, default: int) -> int:
    """Reads a TCP port from ``$name``.

    Args:
        name: The environment variable.
        default: The port when the variable is unset.

    Returns:
        The port.

    Raises:
        ValueError: The variable is set but is not a port number.
    """
    value = os.environ.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{name}={value!r} is not a TCP port")
    return int(value)


def kafka_bootstrap() -> str:
    """The local broker: ``127.0.0.1:$SENSORY_KAFKA_PORT`` (9092)."""
    return f"{HOST}:{port('SENSORY_KAFKA_PORT', 9092)}"


REDIS_URL_ENV = "REDIS_URL"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def redis_url() -> str:
    """``$REDIS_URL`` if set, else the local stack's Redis with its generated password:
    ``redis://:<password>@127.0.0.1:$SENSORY_REDIS_PORT/0`` (6379; no password before the
    first ``sensory stack up``). Print it through ``mask_url``."""
    if os.environ.get(REDIS_URL_ENV):
        return os.environ[REDIS_URL_ENV]
    password = stack_secrets.read_secret(stack_secrets.REDIS_PASSWORD)
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{HOST}:{port('SENSORY_REDIS_PORT', 6379)}/0"


def is_local_host(host: str) -> bool:
    """Whether ``host`` is this machine's loopback (where the local stack runs)."""
    return host in LOCAL_HOSTS


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to log or print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
