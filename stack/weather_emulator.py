"""A local server that answers like OpenWeatherMap's current-weather API.

OpenWeatherMap is not reachable from our machines, so the pipelines' default weather endpoint
is this emulator (the real API is one setting away: ``--weather_base_url``). It serves
``GET /data/2.5/weather?q=<city>,BD&units=metric&appid=<key>`` with the real response shape;
values are synthetic but plausible for Bangladesh and stable within an hour. Tests start it in a
thread and use its fault switches (status code, delay) and request counter.

Usage: ``python -m sensory.stack.weather_emulator --port 8091``
"""
import argparse
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, urlparse

_CONDITIONS = [("Clear", "clear sky", 800), ("Clouds", "broken clouds", 803),
               ("Rain", "light rain", 500), ("Rain", "heavy intensity rain", 502),
               ("Thunderstorm", "thunderstorm with rain", 201), ("Haze", "haze", 721)]
_COORDS = {"dhaka": (23.81, 90.41), "chittagong": (22.36, 91.78), "sylhet": (24.9, 91.87),
           "khulna": (22.82, 89.55), "rajshahi": (24.37, 88.6), "barisal": (22.7, 90.37),
           "rangpur": (25.75, 89.25), "mymensingh": (24.75, 90.4)}


def synthetic_weather(city: str, now: Optional[float] = None) -> dict:
    """OpenWeatherMap-shaped current weather for ``city``; stable within one hour."""
    now = time.time() if now is None else now
    hour = int(now // 3600)
    seed = int(hashlib.sha256(f"{city.lower()}:{hour}".encode()).hexdigest()[:8], 16)
    main, description, code = _CONDITIONS[seed % len(_CONDITIONS)]
    lat, lon = _COORDS.get(city.lower(), (23.7, 90.4))
    return {
        "coord": {"lon": lon, "lat": lat},
        "weather": [{"id": code, "main": main, "description": description, "icon": "01d"}],
        "base": "stations",
        "main": {"temp": round(12 + (seed >> 8) % 280 / 10, 1),
                 "feels_like": round(14 + (seed >> 8) % 280 / 10, 1),
                 "pressure": 1000 + seed % 15, "humidity": 40 + (seed >> 4) % 60},
        "visibility": 10000,
        "wind": {"speed": round((seed >> 12) % 180 / 10, 1), "deg": seed % 360},
        "dt": hour * 3600, "sys": {"country": "BD"}, "timezone": 21600,
        "name": city, "cod": 200,
    }


class WeatherEmulator(ThreadingHTTPServer):
    """The emulator's HTTP server.

    Attributes:
        requests_served: Count of ``/weather`` requests, for tests.
        fail_with: If set, every request answers with this HTTP status.
        delay_s: Seconds to wait before answering (to provoke client timeouts).
    """

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.requests_served = 0
        self.fail_with: Optional[int] = None
        self.delay_s = 0.0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """The API root to give a client."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/data/2.5"

    def count(self) -> None:
        """Counts one served request (thread-safe)."""
        with self._lock:
            self.requests_served += 1

    def handle_error(self, request, client_address) -> None:
        # A client that hung up before its reply was written (a timeout test, a pipeline that
        # stopped) is normal here; socketserver would print a traceback for it.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def start_in_thread(self) -> "WeatherEmulator":
        """Serves from a daemon thread; returns self."""
        threading.Thread(target=self.serve_forever, name="weather-emulator", daemon=True).start()
        return self


class _Handler(BaseHTTPRequestHandler):
    server: WeatherEmulator

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass  # quiet: tests and the stack log file do not need every request

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # pylint: disable=invalid-name
        url = urlparse(self.path)
        if url.path == "/health":
            return self._reply(200, {"status": "ok"})
        if url.path != "/data/2.5/weather":
            return self._reply(404, {"cod": "404", "message": "Internal error"})
        self.server.count()
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        if self.server.fail_with:
            return self._reply(self.server.fail_with, {"cod": str(self.server.fail_with),
                                                       "message": "emulated failure"})
        query = parse_qs(url.query)
        if not query.get("appid", [""])[0]:
            return self._reply(401, {"cod": 401, "message": "Invalid API key."})
        city = query.get("q", [""])[0].split(",")[0].strip()
        if city.lower() not in _COORDS:
            return self._reply(404, {"cod": "404", "message": "city not found"})
        return self._reply(200, synthetic_weather(city.title()))


def main() -> None:
    """Serves the emulator until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args()
    WeatherEmulator(args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
