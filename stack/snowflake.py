"""The Snowflake emulator: fakesnow's server, spoken to by the real snowflake-connector-python.

Why these pins (setup.py): fakesnow 0.12's server accepts the login of connector 3.x;
connector 4/5 log in differently and are refused. ``write_pandas`` through the server only works
with old connectors, so the sink loads with PUT + COPY INTO + MERGE, which works with both the
emulator and real Snowflake.
"""
import sys
from importlib import metadata
from typing import Optional

from sensory.io.snowflake_conn import SnowflakeSettings, connect
from sensory.stack import config, process
from sensory.stack.service import Service


class SnowflakeService(Service):
    """fakesnow's HTTP server on 127.0.0.1, data under ``.local/snowflake/db``."""

    name = "snowflake"
    start_timeout_s = 60.0

    @property
    def address(self) -> str:
        return f"http://{config.HOST}:{config.SNOWFLAKE_PORT}"

    def installed(self) -> bool:
        try:
            metadata.version("fakesnow")
            metadata.version("uvicorn")
            return True
        except metadata.PackageNotFoundError:
            return False

    def install(self) -> None:
        if not self.installed():
            raise process.StackError("fakesnow[server] is not installed in this Python; run "
                                     "`make venv` (it comes with the project's requirements)")

    def launch(self) -> None:
        process.start([sys.executable, "-m", "sensory.stack.fakesnow_server", "--host",
                       config.HOST, "--port", str(config.SNOWFLAKE_PORT), "--db-path",
                       str(self.home / "db")], pid_file=self.pid_file, log_file=self.log_file)

    def healthy(self) -> bool:
        if not process.port_open(config.HOST, config.SNOWFLAKE_PORT):
            return False
        conn = connect(SnowflakeSettings.from_env({
            "SENSORY_SNOWFLAKE_PORT": str(config.SNOWFLAKE_PORT)}))
        try:
            return conn.cursor().execute("SELECT 1").fetchone()[0] == 1
        finally:
            conn.close()

    def version(self) -> Optional[str]:
        try:
            return f"fakesnow {metadata.version('fakesnow')}"
        except metadata.PackageNotFoundError:
            return None
