"""Integration tests run against the real local stack, brought up once per session.

A stack that is already running is reused and left running; services this session had to start
are stopped again at the end, so a test run leaves no process of ours behind.
"""
import pytest

from sensory.stack import config, manager


@pytest.fixture(scope="session")
def stack():
    """Brings the whole stack up (installing on first use) and yields its status by service."""
    started = manager.up(progress=print)
    statuses = manager.status()
    unhealthy = [name for name, entry in statuses.items() if not entry.healthy]
    assert not unhealthy, f"stack services not healthy: {unhealthy}"
    yield statuses
    if started:
        manager.down(started)


@pytest.fixture(scope="session")
def kafka_bootstrap(stack):
    """``host:port`` of the stack's broker."""
    return stack["kafka"].address


@pytest.fixture(scope="session")
def redis_url(stack):
    """URL of the stack's Redis, with its generated password."""
    from sensory import endpoints
    return endpoints.redis_url()


@pytest.fixture(scope="session")
def snowflake_settings(stack):
    """Connection settings for the stack's Snowflake emulator."""
    from sensory.io.snowflake_conn import SnowflakeSettings
    return SnowflakeSettings.from_env({"SENSORY_SNOWFLAKE_PORT": str(config.SNOWFLAKE_PORT)})


@pytest.fixture
def weaviate_client(stack):
    """A weaviate-client v4 connection to the stack's Weaviate, closed after the test."""
    from sensory.io.weaviate import WeaviateSettings, connect
    client = connect(WeaviateSettings.from_env())  # with the stack's API key
    yield client
    client.close()
