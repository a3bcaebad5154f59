"""Weaviate: the real server, built from the Go module proxy, single node on loopback.

``CGO_ENABLED=0 go install github.com/weaviate/weaviate/cmd/weaviate-server@<version>`` puts
the binary in ``.local/weaviate/bin``. It runs with no vectorizer module (we bring our own
vectors), anonymous access, and every listener that Weaviate lets us place on 127.0.0.1.
"""
import json
import shutil
import urllib.request
from pathlib import Path
from typing import Optional

from sensory.stack import config, process
from sensory.stack.service import Service


class WeaviateService(Service):
    """A single-node Weaviate with HTTP on ``SENSORY_WEAVIATE_PORT`` and gRPC beside it."""

    name = "weaviate"
    start_timeout_s = 90.0

    @property
    def address(self) -> str:
        return f"http://{config.HOST}:{config.WEAVIATE_PORT}"

    @property
    def _binary(self) -> Path:
        return self.home / "bin" / "weaviate-server"

    @property
    def _version_file(self) -> Path:
        return self.home / "bin" / "VERSION"

    def installed(self) -> bool:
        return (self._binary.exists() and self._version_file.exists()
                and self._version_file.read_text().strip() == config.WEAVIATE_VERSION)

    def install(self) -> None:
        if self.installed():
            return
        if shutil.which("go") is None:
            raise process.StackError("weaviate is built with Go: put `go` (>= 1.25) on PATH")
        self.home.mkdir(parents=True, exist_ok=True)
        process.run_checked(
            ["go", "install",
             f"github.com/weaviate/weaviate/cmd/weaviate-server@{config.WEAVIATE_VERSION}"],
            what="building weaviate-server with go install", log_file=self.home / "install.log",
            env={"CGO_ENABLED": "0", "GOBIN": str(self._binary.parent),
                 "GOFLAGS": "-buildvcs=false"})
        self._version_file.write_text(config.WEAVIATE_VERSION + "\n")

    def launch(self) -> None:
        env = {
            "PERSISTENCE_DATA_PATH": str(self.home / "data"),
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "DEFAULT_VECTORIZER_MODULE": "none",
            "ENABLE_MODULES": "",
            "GRPC_PORT": str(config.WEAVIATE_GRPC_PORT),
            "CLUSTER_HOSTNAME": "node1",
            "CLUSTER_IN_LOCALHOST": "true",
            "CLUSTER_BIND_ADDR": config.HOST,
            "CLUSTER_ADVERTISE_ADDR": config.HOST,
            "CLUSTER_GOSSIP_BIND_PORT": str(config.WEAVIATE_GOSSIP_PORT),
            "CLUSTER_DATA_BIND_PORT": str(config.WEAVIATE_DATA_PORT),
            "RAFT_PORT": str(config.WEAVIATE_RAFT_PORT),
            "RAFT_INTERNAL_RPC_PORT": str(config.WEAVIATE_RAFT_RPC_PORT),
            "RAFT_BOOTSTRAP_EXPECT": "1",
            "RAFT_JOIN": f"node1:{config.WEAVIATE_RAFT_PORT}",
            "GO_PROFILING_DISABLE": "true",
            "DISABLE_TELEMETRY": "true",
            "LIMIT_RESOURCES": "true",
            "LOG_LEVEL": "warning",
            "QUERY_DEFAULTS_LIMIT": "25",
        }
        process.start([str(self._binary), "--host", config.HOST, "--port",
                       str(config.WEAVIATE_PORT), "--scheme", "http"],
                      pid_file=self.pid_file, log_file=self.log_file, env=env)

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.address}/v1/.well-known/ready", timeout=3) as reply:
            return reply.status == 200 and process.port_open(config.HOST,
                                                              config.WEAVIATE_GRPC_PORT)

    def version(self) -> Optional[str]:
        if self.pid is not None:
            try:
                with urllib.request.urlopen(f"{self.address}/v1/meta", timeout=3) as reply:
                    return json.load(reply).get("version")
            except OSError:
                pass
        return config.WEAVIATE_VERSION.lstrip("v") if self.installed() else None
