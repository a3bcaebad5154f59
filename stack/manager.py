"""``up``, ``down`` and ``status`` over every service of the stack."""
import dataclasses
import logging
import time
from typing import Callable, Iterable, Optional

from sensory.stack import config
from sensory.stack.exporters import KafkaLagExporterService, PushgatewayService
from sensory.stack.flink import FlinkService
from sensory.stack.kafka import KafkaService
from sensory.stack.process import StackError
from sensory.stack.prometheus import PrometheusService
from sensory.stack.redis_server import RedisService
from sensory.stack.service import Service, ServiceStatus
from sensory.stack.snowflake import SnowflakeService
from sensory.stack.weather import WeatherEmulatorService
from sensory.stack.weaviate import WeaviateService

_LOGGER = logging.getLogger(__name__)

SERVICE_CLASSES = (KafkaService, RedisService, WeaviateService, SnowflakeService,
                   WeatherEmulatorService, PushgatewayService, KafkaLagExporterService,
                   PrometheusService)
SERVICE_NAMES = tuple(cls.name for cls in SERVICE_CLASSES)
# Opt-in services: started only when named (`stack up --flink`); listed and stopped when running.
OPTIONAL_SERVICE_CLASSES = (FlinkService,)
OPTIONAL_SERVICE_NAMES = tuple(cls.name for cls in OPTIONAL_SERVICE_CLASSES)
ALL_SERVICE_NAMES = SERVICE_NAMES + OPTIONAL_SERVICE_NAMES


def services(names: Optional[Iterable[str]] = None) -> list[Service]:
    """The stack's services (all, or those named), rooted at ``config.local_dir()``."""
    wanted = set(names or SERVICE_NAMES)
    unknown = wanted - set(ALL_SERVICE_NAMES)
    if unknown:
        raise StackError(f"unknown service(s) {sorted(unknown)}; known: {list(ALL_SERVICE_NAMES)}")
    local = config.local_dir()
    return [cls(local) for cls in SERVICE_CLASSES + OPTIONAL_SERVICE_CLASSES
            if cls.name in wanted]


def _with_running_optional(names: Optional[Iterable[str]]) -> Optional[list[str]]:
    """``names``, or when None the default services plus any opt-in service now running."""
    if names is not None:
        return list(names)
    local = config.local_dir()
    return list(SERVICE_NAMES) + [cls.name for cls in OPTIONAL_SERVICE_CLASSES
                                  if cls(local).pid is not None]


def up(names: Optional[Iterable[str]] = None,
       progress: Callable[[str], None] = _LOGGER.info) -> list[str]:
    """Installs what is missing, starts what is down, waits until everything is healthy.

    Args:
        names: Services to bring up; all when None.
        progress: Called with one line per step.

    Returns:
        Names of the services this call started (the others were already running).

    Raises:
        StackError: A service could not be installed or started.
    """
    started = []
    for service in services(names):
        began = time.monotonic()
        reason = service.outdated() if service.pid is not None else None
        if reason:
            progress(f"{service.name}: restarting ({reason})")
            service.stop()
        if service.running_and_healthy():
            service.after_start()
            progress(f"{service.name}: running (pid {service.pid})")
            continue
        if not service.installed():
            progress(f"{service.name}: installing ...")
            if isinstance(service, FlinkService):
                service.install(progress=progress)
            else:
                service.install()
            progress(f"{service.name}: installed in {time.monotonic() - began:.0f} s")
        progress(f"{service.name}: starting ...")
        service.start()
        started.append(service.name)
        progress(f"{service.name}: healthy at {service.address} "
                 f"({time.monotonic() - began:.0f} s)")
    return started


def down(names: Optional[Iterable[str]] = None,
         progress: Callable[[str], None] = _LOGGER.info) -> list[str]:
    """Stops the processes the stack started (by pid file); returns the names stopped."""
    stopped = []
    for service in reversed(services(names or ALL_SERVICE_NAMES)):
        if service.stop():
            stopped.append(service.name)
            progress(f"{service.name}: stopped")
    return stopped


def status(names: Optional[Iterable[str]] = None) -> dict[str, ServiceStatus]:
    """Status of each service, keyed by name."""
    return {service.name: service.status()
            for service in services(_with_running_optional(names))}


def status_dict(statuses: dict[str, ServiceStatus]) -> dict[str, dict]:
    """``status()`` as plain JSON-ready dicts."""
    return {name: dataclasses.asdict(entry) for name, entry in statuses.items()}


def format_table(statuses: dict[str, ServiceStatus]) -> str:
    """A fixed-width table of ``status()``."""
    rows = [("SERVICE", "HEALTHY", "PID", "AUTH", "VERSION", "ADDRESS")]
    rows += [(name, "yes" if s.healthy else "NO", str(s.pid or "-"),
              {True: "yes", False: "no"}.get(s.auth, "-"), s.version or "-", s.address)
             for name, s in statuses.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in rows)
