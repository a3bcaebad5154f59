"""The Pushgateway and the Kafka lag exporter as stack services (scraped by Prometheus).

Why a Pushgateway: a bounded DirectRunner run, ``sensory weather fetch`` or a scraper CronJob is
gone before Prometheus's next scrape; pushing the final numbers to the Pushgateway (Debian's
``prometheus-pushgateway``) keeps them scrapeable until the next run of the same job replaces
them, with no file-sharing between the run and Prometheus. It persists to disk, so a stack
restart keeps the last runs' numbers.
"""
import shutil
import subprocess
import sys
import urllib.request
from typing import Optional

from sensory.stack import config, process
from sensory.stack.prometheus import apt_install
from sensory.stack.service import Service


class PushgatewayService(Service):
    """Debian's ``prometheus-pushgateway`` on ``SENSORY_PUSHGATEWAY_PORT`` (default 9091)."""

    name = "pushgateway"
    start_timeout_s = 30.0

    @property
    def address(self) -> str:
        return f"http://{config.HOST}:{config.PUSHGATEWAY_PORT}"

    def installed(self) -> bool:
        return shutil.which("prometheus-pushgateway") is not None

    def install(self) -> None:
        apt_install("prometheus-pushgateway", "prometheus-pushgateway",
                    self.home / "install.log")

    def launch(self) -> None:
        process.start(["prometheus-pushgateway",
                       f"--web.listen-address={config.HOST}:{config.PUSHGATEWAY_PORT}",
                       f"--persistence.file={self.home / 'metrics.store'}",
                       "--persistence.interval=30s"],
                      pid_file=self.pid_file, log_file=self.log_file)

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.address}/-/ready", timeout=2) as reply:
            return reply.status == 200

    def version(self) -> Optional[str]:
        if not self.installed():
            return None
        out = subprocess.run(["prometheus-pushgateway", "--version"], capture_output=True,
                             text=True, check=False)
        first = (out.stdout or out.stderr).split("\n", 1)[0]
        return first.split("version", 1)[-1].split("(", 1)[0].strip() or first


class KafkaLagExporterService(Service):
    """``sensory.io.kafka_lag`` on ``SENSORY_KAFKA_EXPORTER_PORT`` (default 9308)."""

    name = "kafka-lag"
    start_timeout_s = 30.0

    @property
    def address(self) -> str:
        return f"http://{config.HOST}:{config.KAFKA_EXPORTER_PORT}"

    def installed(self) -> bool:
        return True  # part of this package

    def install(self) -> None:
        return None

    def launch(self) -> None:
        process.start([sys.executable, "-m", "sensory.io.kafka_lag", "--bootstrap_servers",
                       f"{config.HOST}:{config.KAFKA_PORT}", "--host", config.HOST,
                       "--port", str(config.KAFKA_EXPORTER_PORT)],
                      pid_file=self.pid_file, log_file=self.log_file)

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.address}/metrics", timeout=15) as reply:
            return b"sensory_kafka_exporter_up 1.0" in reply.read()

    def version(self) -> Optional[str]:
        return "sensory.io.kafka_lag (Kafka admin API)"
