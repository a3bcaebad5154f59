"""Addresses of the local stack's services, as the clients of every layer see them.

Each port has an environment override (``SENSORY_KAFKA_PORT``, ``SENSORY_REDIS_PORT``, ...), so
two checkouts can run two stacks side by side and every default — pipeline options, CLI
commands, tests — follows the same variables. The stack itself reads its ports from here too.
"""
import os

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


def redis_url() -> str:
    """The local Redis: ``redis://127.0.0.1:$SENSORY_REDIS_PORT/0`` (6379)."""
    return f"redis://{HOST}:{port('SENSORY_REDIS_PORT', 6379)}/0"
