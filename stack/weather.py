"""The OpenWeatherMap emulator as a stack service (the pipelines' default weather endpoint)."""
import json
import sys
import urllib.request
from typing import Optional

from sensory.stack import config, process
from sensory.stack.service import Service


class WeatherEmulatorService(Service):
    """``sensory.stack.weather_emulator`` on ``SENSORY_WEATHER_PORT`` (default 8091)."""

    name = "openweather"
    start_timeout_s = 20.0

    @property
    def address(self) -> str:
        return f"http://{config.HOST}:{config.WEATHER_PORT}"

    def installed(self) -> bool:
        return True  # pure Python, part of this package

    def install(self) -> None:
        return None

    def launch(self) -> None:
        process.start([sys.executable, "-m", "sensory.stack.weather_emulator", "--host",
                       config.HOST, "--port", str(config.WEATHER_PORT)],
                      pid_file=self.pid_file, log_file=self.log_file)

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.address}/health", timeout=2) as reply:
            return json.load(reply).get("status") == "ok"

    def version(self) -> Optional[str]:
        return "emulator (OpenWeatherMap 2.5 current weather)"
