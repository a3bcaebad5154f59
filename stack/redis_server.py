"""Redis: Debian's redis-server on loopback, password required, without persistence (a cache).

The password is generated at the first ``up`` into ``.local/secrets/redis-password`` (0600)
and given to the server through a 0600 config file, never on the command line (``ps`` shows
command lines to every user). ``sensory.endpoints.redis_url()`` carries it to our clients.
"""
import os
import shutil
import socket
import subprocess
from typing import Optional

from sensory import stack_secrets
from sensory.stack import config, process
from sensory.stack.service import Service

_CONF = """bind {host}
port {port}
protected-mode yes
requirepass {password}
dir {home}
save ""
appendonly no
daemonize no
"""


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
        conf = self.home / "redis.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(_CONF.format(
                host=config.HOST, port=config.REDIS_PORT, home=self.home,
                password=stack_secrets.ensure_secret(stack_secrets.REDIS_PASSWORD)))
        os.chmod(conf, 0o600)
        process.start(["redis-server", str(conf)], pid_file=self.pid_file,
                      log_file=self.log_file)

    def _client(self, password: Optional[str]):
        import redis  # pylint: disable=import-outside-toplevel
        return redis.Redis(host=config.HOST, port=config.REDIS_PORT, password=password,
                           socket_timeout=2)

    def healthy(self) -> bool:
        client = self._client(stack_secrets.read_secret(stack_secrets.REDIS_PASSWORD))
        try:
            return bool(client.ping())
        finally:
            client.close()

    def requires_auth(self) -> bool:
        # The plain protocol, not redis-py: its client retries an auth failure with backoff
        # (seconds), and the server's own answer to an anonymous PING is what we report.
        with socket.create_connection((config.HOST, config.REDIS_PORT), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            reply = conn.recv(64)
        if reply.startswith(b"+PONG"):
            return False
        if reply.startswith(b"-NOAUTH"):
            return True
        raise process.StackError(f"redis: unexpected answer to PING: {reply[:40]!r}")

    def outdated(self) -> Optional[str]:
        try:
            return None if self.requires_auth() else "started without a password"
        except Exception:  # pylint: disable=broad-except
            return None  # not answering: `up` handles it as down

    def version(self) -> Optional[str]:
        if not self.installed():
            return None
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                             check=False).stdout
        return next((part[2:] for part in out.split() if part.startswith("v=")), out.strip())
