"""What a run needs, checked before the pipeline is built: one plain line per problem.

Each check talks to the real service with a short timeout, so a wrong address or a missing
password answers in seconds with the setting to fix, instead of a traceback after Beam has
started (or after a client's 30-second default timeout). ``--skip_preflight`` turns it off, for
runners whose workers reach services the submitting machine cannot.
"""
import logging
import socket
from typing import Optional
from urllib.parse import urlsplit

from sensory import endpoints, stack_secrets
from sensory.pipelines.options import SensoryOptions
from sensory.pipelines.routing import bootstrap_servers, source_topics
from sensory.settings import ConfigurationError
from sensory.topics import (DEAD_LETTERS_MARKET_TOPIC, DEAD_LETTERS_SOCIAL_TOPIC,
                            SCHEMA_ERRORS_TOPIC)

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
STACK_HINT = "is the stack up? sensory stack up"


class PreflightError(ConfigurationError):
    """A run cannot start; the message is one line naming the setting to fix."""


def check(options: SensoryOptions, *, kind: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Checks the source, the weather cache and the sinks that ``options`` choose.

    Args:
        options: The run's options.
        kind: ``"social"`` or ``"market"``.
        timeout_s: How long each service gets to answer.

    Raises:
        PreflightError: The first problem found (the cause is chained for ``--verbose``).
        ConfigurationError: Settings that cannot be read (e.g. real Snowflake half configured).
    """
    if options.input_file:
        check_input_files(options.input_file)
    else:
        topics = source_topics(kind, options.topics)
        if not options.output_dir:
            topics += [SCHEMA_ERRORS_TOPIC, DEAD_LETTERS_SOCIAL_TOPIC if kind == "social"
                       else DEAD_LETTERS_MARKET_TOPIC]
        check_kafka(bootstrap_servers(options), topics, timeout_s=timeout_s)
    embedding_cache = not options.no_embeddings and not options.no_embedding_cache
    if not options.no_weather or embedding_cache:
        url = endpoints.redis_url() if options.redis_url is None else options.redis_url
        if url:
            check_redis(url, explicit=options.redis_url is not None, timeout_s=timeout_s)
    if not options.output_dir:
        sinks = [name.strip() for name in (options.sinks or "").split(",") if name.strip()]
        if "snowflake" in sinks:
            check_snowflake(timeout_s=timeout_s)
        if "weaviate" in sinks and not options.no_embeddings:
            check_weaviate(timeout_s=timeout_s)


def check_input_files(pattern: str) -> None:
    """At least one file matches ``--input_file`` (local paths and Beam's file systems)."""
    from apache_beam.io.filesystems import FileSystems  # pylint: disable=import-outside-toplevel
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception as err:  # pylint: disable=broad-except
        raise PreflightError(f"--input_file={pattern}: cannot be listed "
                             f"({_first_line(err)})") from err
    if not matched:
        raise PreflightError(f"--input_file={pattern}: no file matches this path or glob")


def check_kafka(bootstrap: str, topics: list[str], *, timeout_s: float) -> None:
    """A broker answers at ``bootstrap`` within ``timeout_s`` and every topic exists."""
    from confluent_kafka import KafkaException  # pylint: disable=import-outside-toplevel
    from confluent_kafka.admin import AdminClient  # pylint: disable=import-outside-toplevel
    # log_level 0: librdkafka would print connection errors to stderr by itself.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0,
                         "socket.connection.setup.timeout.ms": int(timeout_s * 1000)})
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as err:
        raise PreflightError(
            f"--bootstrap_servers={bootstrap}: no Kafka broker answered within {timeout_s:g} s "
            f"({STACK_HINT})") from err
    missing = [topic for topic in topics if topic not in existing]
    if missing:
        raise PreflightError(
            f"--topics: topic(s) {', '.join(missing)} do not exist on {bootstrap} "
            "(create the contract's topics with: sensory topics create)")


def check_redis(url: str, *, explicit: bool, timeout_s: float) -> None:
    """Redis at ``url`` answers PING with the URL's credentials."""
    import redis  # pylint: disable=import-outside-toplevel
    shown = endpoints.mask_url(url)
    setting = f"--redis_url={shown}" if explicit else f"--redis_url (default {shown})"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s,
                                      socket_timeout=timeout_s)
    except ValueError as err:
        raise PreflightError(f"{setting}: not a Redis URL ({_first_line(err)})") from err
    try:
        client.ping()
    except redis.AuthenticationError as err:
        hint = ("put the password in the URL: redis://:PASSWORD@host:port/0" if explicit else
                f"the stack's password is in "
                f"{stack_secrets.secret_path(stack_secrets.REDIS_PASSWORD)}")
        problem = ("Redis refused the credentials" if urlsplit(url).password
                   else "Redis requires a password and the URL has none")
        raise PreflightError(f"{setting}: {problem} ({hint}; --redis_url= runs without "
                             "cache)") from err
    except (redis.ConnectionError, redis.TimeoutError) as err:
        raise PreflightError(f"{setting}: Redis did not answer within {timeout_s:g} s "
                             f"({STACK_HINT}; --redis_url= runs without cache)") from err
    finally:
        client.close()


def check_weaviate(*, timeout_s: float) -> None:
    """Weaviate's REST API accepts our key (or anonymous access) and its gRPC port is open."""
    import requests  # pylint: disable=import-outside-toplevel
    from sensory.io.weaviate import WeaviateSettings  # pylint: disable=import-outside-toplevel
    settings = WeaviateSettings.from_env()
    scheme = "https" if settings.secure else "http"
    where = f"{scheme}://{settings.host}:{settings.http_port}"
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    try:
        reply = requests.get(f"{where}/v1/meta", headers=headers, timeout=timeout_s)
    except requests.RequestException as err:
        raise PreflightError(f"WEAVIATE_HOST/SENSORY_WEAVIATE_PORT: Weaviate at {where} did "
                             f"not answer within {timeout_s:g} s ({STACK_HINT})") from err
    if reply.status_code in (401, 403):
        if settings.api_key:
            problem = f"refused the API key (HTTP {reply.status_code})"
        else:
            problem = f"requires an API key and none is set (HTTP {reply.status_code})"
        key_file = stack_secrets.secret_path(stack_secrets.WEAVIATE_API_KEY)
        hint = (f"the local stack's key is {key_file}" if endpoints.is_local_host(settings.host)
                else "set the cluster's key")
        raise PreflightError(f"WEAVIATE_API_KEY: Weaviate at {where} {problem}; {hint}")
    if reply.status_code != 200:
        raise PreflightError(f"WEAVIATE_HOST/SENSORY_WEAVIATE_PORT: {where}/v1/meta answered "
                             f"HTTP {reply.status_code}; is it Weaviate?")
    if not _port_open(settings.host, settings.grpc_port, timeout_s):
        raise PreflightError(f"SENSORY_WEAVIATE_GRPC_PORT={settings.grpc_port}: nothing answers "
                             f"on Weaviate's gRPC port at {settings.host} (weaviate-client "
                             "needs it)")


def check_snowflake(*, timeout_s: float) -> None:
    """Snowflake (or the local emulator) accepts a login and ``SELECT 1``."""
    from sensory.io.snowflake_conn import SnowflakeSettings  # pylint: disable=import-outside-toplevel
    settings = SnowflakeSettings.from_env()
    if settings.is_emulator:
        if not _port_open(settings.host, settings.port, timeout_s):
            raise PreflightError(f"SENSORY_SNOWFLAKE_PORT={settings.port}: the Snowflake "
                                 f"emulator at {settings.host} did not answer ({STACK_HINT}; "
                                 "SNOWFLAKE_ACCOUNT for real Snowflake)")
    try:
        kwargs = settings.connect_kwargs(with_database=False)
    except (OSError, ValueError, TypeError) as err:
        raise PreflightError(f"SNOWFLAKE_PRIVATE_KEY_FILE={settings.private_key_file}: cannot "
                             f"load the private key ({_first_line(err)})") from err
    import snowflake.connector  # pylint: disable=import-outside-toplevel
    kwargs["login_timeout"] = max(timeout_s, 10.0)
    try:
        conn = snowflake.connector.connect(**kwargs)
        try:
            conn.cursor().execute("SELECT 1").fetchone()
        finally:
            conn.close()
    except Exception as err:  # pylint: disable=broad-except
        setting = ("SENSORY_SNOWFLAKE_PORT" if settings.is_emulator
                   else f"SNOWFLAKE_ACCOUNT={settings.account}/SNOWFLAKE_USER={settings.user}")
        raise PreflightError(f"{setting}: Snowflake login failed "
                             f"({type(err).__name__}: {_first_line(err)})") from err


def _port_open(host: Optional[str], port: Optional[int], timeout_s: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:300]
