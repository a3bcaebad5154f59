"""Snowflake connection settings: the local emulator by default, real Snowflake when configured.

With ``SNOWFLAKE_ACCOUNT`` set, connections go to real Snowflake with ``SNOWFLAKE_USER`` and
either ``SNOWFLAKE_PASSWORD`` or a key pair (``SNOWFLAKE_PRIVATE_KEY_FILE``, optionally
``SNOWFLAKE_PRIVATE_KEY_PASSPHRASE``). Without it they go to the fakesnow server of the local
stack on 127.0.0.1:``$SENSORY_SNOWFLAKE_PORT`` (default 8765) over plain HTTP.
"""
import dataclasses
import os
from typing import Any, Optional

from sensory.settings import ConfigurationError

DATABASE = "MILLIONX"
SCHEMA = "RAW_DATA"
EMULATOR_PORT = 8765


@dataclasses.dataclass(frozen=True)
class SnowflakeSettings:
    """Where and how to connect; picklable, so DoFns carry it and connect in ``setup()``.

    Attributes:
        account: Snowflake account identifier (``fakesnow`` for the emulator).
        user: User name.
        password: Password, or None with a key pair.
        private_key_file: PEM private key for key-pair authentication.
        private_key_passphrase: Passphrase of the private key, if any.
        host: Host override (the emulator's address); None for real Snowflake.
        port: Port override.
        protocol: ``https`` for Snowflake, ``http`` for the emulator.
        warehouse: Warehouse to use, if any.
        role: Role to use, if any.
        database: Database of the raw tables.
        schema: Schema of the raw tables.
    """

    account: str
    user: str
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    private_key_file: Optional[str] = None
    private_key_passphrase: Optional[str] = dataclasses.field(default=None, repr=False)
    host: Optional[str] = None
    port: Optional[int] = None
    protocol: str = "https"
    warehouse: Optional[str] = None
    role: Optional[str] = None
    database: str = DATABASE
    schema: str = SCHEMA

    @property
    def is_emulator(self) -> bool:
        """Whether these settings point at the local fakesnow server."""
        return self.account == "fakesnow"

    @classmethod
    def from_env(cls, environ: Optional[dict] = None) -> "SnowflakeSettings":
        """Reads the settings from the environment (see the module docstring).

        Raises:
            ConfigurationError: ``SNOWFLAKE_ACCOUNT`` is set without a user or a credential.
        """
        env = os.environ if environ is None else environ
        account = env.get("SNOWFLAKE_ACCOUNT")
        if not account:
            # The emulator accepts any password; SNOWFLAKE_PASSWORD is sent when set.
            return cls(account="fakesnow", user="fake",
                       password=env.get("SNOWFLAKE_PASSWORD") or "snow", host="127.0.0.1",
                       port=int(env.get("SENSORY_SNOWFLAKE_PORT", EMULATOR_PORT)),
                       protocol="http")
        user = env.get("SNOWFLAKE_USER")
        password = env.get("SNOWFLAKE_PASSWORD")
        key_file = env.get("SNOWFLAKE_PRIVATE_KEY_FILE")
        if not user or not (password or key_file):
            raise ConfigurationError(
                "SNOWFLAKE_ACCOUNT is set, so real Snowflake is used: also set SNOWFLAKE_USER "
                "and SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_FILE (unset SNOWFLAKE_ACCOUNT "
                "to use the local emulator)")
        return cls(account=account, user=user, password=password, private_key_file=key_file,
                   private_key_passphrase=env.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"),
                   warehouse=env.get("SNOWFLAKE_WAREHOUSE"), role=env.get("SNOWFLAKE_ROLE"),
                   database=env.get("SNOWFLAKE_DATABASE", DATABASE),
                   schema=env.get("SNOWFLAKE_SCHEMA", SCHEMA))

    def connect_kwargs(self, *, with_database: bool = True) -> dict[str, Any]:
        """Keyword arguments for ``snowflake.connector.connect``."""
        kwargs: dict[str, Any] = {"account": self.account, "user": self.user,
                                  "login_timeout": 30, "network_timeout": 120,
                                  "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED":
                                                         False}}
        if self.password:
            kwargs["password"] = self.password
        if self.private_key_file:
            kwargs["private_key"] = _load_private_key(self.private_key_file,
                                                      self.private_key_passphrase)
        for name in ("host", "port", "warehouse", "role"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        kwargs["protocol"] = self.protocol
        if with_database and not self.is_emulator:
            # The emulator creates databases lazily; it is selected after `init` with USE.
            kwargs.update(database=self.database, schema=self.schema)
        return kwargs


def _load_private_key(path: str, passphrase: Optional[str]) -> bytes:
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    with open(path, "rb") as handle:
        key = serialization.load_pem_private_key(
            handle.read(), password=passphrase.encode() if passphrase else None)
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def connect(settings: SnowflakeSettings):
    """Opens a connection and selects the raw-data database and schema.

    Args:
        settings: Where to connect.

    Returns:
        A ``snowflake.connector`` connection.
    """
    import snowflake.connector  # pylint: disable=import-outside-toplevel
    conn = snowflake.connector.connect(**settings.connect_kwargs())
    if settings.is_emulator:
        cursor = conn.cursor()
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {settings.database}")
        cursor.execute(f"USE DATABASE {settings.database}")
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {settings.schema}")
        cursor.execute(f"USE SCHEMA {settings.schema}")
    return conn
