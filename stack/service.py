"""What every service of the stack offers: install, start, health, version, status."""
import dataclasses
import logging
from pathlib import Path
from typing import Optional

from sensory.stack import listeners, process

_LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass
class ServiceStatus:
    """One row of ``sensory stack status``."""

    address: str
    version: Optional[str]
    pid: Optional[int]
    healthy: bool
    # Whether an anonymous client is refused (None: not running, so unknown).
    auth: Optional[bool] = None
    # Every TCP listener of the process group, "host:port" ("[::]" = all interfaces).
    listens: list[str] = dataclasses.field(default_factory=list)


class Service:
    """Base class: a process we install into ``<local>/<name>/`` and run from there.

    Args:
        local: The stack's cache folder (``.local/``).
    """

    name = "service"
    start_timeout_s = 60.0

    def __init__(self, local: Path):
        self.home = local / self.name
        self.pid_file = self.home / f"{self.name}.pid"
        self.log_file = self.home / f"{self.name}.log"

    @property
    def address(self) -> str:
        """Where clients connect."""
        raise NotImplementedError

    def installed(self) -> bool:
        """Whether ``install`` has nothing left to do."""
        raise NotImplementedError

    def install(self) -> None:
        """Fetches and builds what the service needs, idempotently."""
        raise NotImplementedError

    def launch(self) -> None:
        """Starts the process (after any one-time preparation)."""
        raise NotImplementedError

    def healthy(self) -> bool:
        """A real request to the service succeeds."""
        raise NotImplementedError

    def version(self) -> Optional[str]:
        """The version of what is installed."""
        raise NotImplementedError

    def after_start(self) -> None:
        """Runs once the service is healthy (e.g. creating topics); idempotent."""

    def requires_auth(self) -> bool:
        """Whether the running service refuses a client without credentials (a real probe
        where the service has auth; False for services that have none)."""
        return False

    def outdated(self) -> Optional[str]:
        """Why the running process must be restarted to apply the current settings, or None.

        A stack started before auth was turned on is the case this exists for.
        """
        return None

    @property
    def pid(self) -> Optional[int]:
        """Our process's pid, if it runs."""
        return process.read_pid(self.pid_file)

    def running_and_healthy(self) -> bool:
        """Our process runs and answers."""
        if self.pid is None:
            return False
        try:
            return self.healthy()
        except Exception:  # pylint: disable=broad-except
            return False

    def start(self) -> None:
        """Starts the service if it is not running, and waits until it is healthy.

        Raises:
            process.StackError: The port is taken by another program, or start-up failed.
        """
        if self.pid is None and self._port_taken():
            raise process.StackError(
                f"{self.name}: {self.address} is already in use by a process the stack did "
                f"not start; stop it or move the stack with the port variables in docs/stack.md")
        if self.pid is None:
            self.home.mkdir(parents=True, exist_ok=True)
            self.launch()
        process.wait_until(self.healthy, timeout_s=self.start_timeout_s, what=self.name,
                           log_file=self.log_file, pid_file=self.pid_file)
        self.after_start()

    def _port_taken(self) -> bool:
        host, _, port = self.address.rpartition(":")
        return process.port_open(host.split("//")[-1], int(port))

    def stop(self) -> bool:
        """Stops our process; returns whether one was running."""
        return process.stop(self.pid_file)

    def status(self) -> ServiceStatus:
        """Address, version, pid and health."""
        pid = self.pid
        auth = None
        if pid is not None:
            try:
                auth = self.requires_auth()
            except Exception:  # pylint: disable=broad-except
                auth = None  # not answering: unknown
        return ServiceStatus(address=self.address, version=self.version(), pid=pid,
                             healthy=self.running_and_healthy(), auth=auth,
                             listens=listeners.listening_addresses(pid) if pid else [])
