"""Redis: Debian's redis-server on loopback, without persistence (it is a cache here)."""
import shutil
import subprocess
from typing import Optional

from sensory.stack import config, process
from sensory.stack.service import Service


class RedisService(Service):
    """Debian's ``redis-server`` (installed with apt-get when missing)."""

    name = "redis"
    start_timeout_s = 30.0

    @property
    def address(self) -> str:
        return f"{config.HOST}:{config.REDIS_PORT}"

    def installed(self) -> bool:
        return shutil.which("redis-server") is not None

    def install(self) -> None:
        if self.installed():
            return
        if shutil.which("apt-get") is None:
            raise process.StackError("redis-server is missing and apt-get is not available; "
                                     "install Redis >= 6 and put redis-server on PATH")
        process.run_checked(["apt-get", "update", "-q"], what="apt-get update",
                            log_file=self.home / "install.log")
        process.run_checked(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                             "redis-server"], what="apt-get install redis-server",
                            log_file=self.home / "install.log",
                            env={"DEBIAN_FRONTEND": "noninteractive"})

    def launch(self) -> None:
        process.start(["redis-server", "--bind", config.HOST, "--port", str(config.REDIS_PORT),
                       "--dir", str(self.home), "--save", "", "--appendonly", "no",
                       "--protected-mode", "yes", "--daemonize", "no"],
                      pid_file=self.pid_file, log_file=self.log_file)

    def healthy(self) -> bool:
        import redis  # pylint: disable=import-outside-toplevel
        client = redis.Redis(host=config.HOST, port=config.REDIS_PORT, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def version(self) -> Optional[str]:
        if not self.installed():
            return None
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                             check=False).stdout
        return next((part[2:] for part in out.split() if part.startswith("v=")), out.strip())
