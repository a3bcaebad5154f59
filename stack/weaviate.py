"""Weaviate: the real server, built from the Go module proxy, single node on loopback.

``CGO_ENABLED=0 go install github.com/weaviate/weaviate/cmd/weaviate-server@<version>`` puts
the binary in ``.local/weaviate/bin``. It runs with no vectorizer module (we bring our own
vectors), API-key authentication with anonymous access off (the key is generated at the first
``up`` into ``.local/secrets/weaviate-api-key``, mode 0600; its user is admin), basic auth on
the cluster-internal data port, and every listener that Weaviate lets us place on 127.0.0.1.

Weaviate v1.35 binds its client gRPC port (``GRPC_PORT``) and the cluster data port
(``CLUSTER_DATA_BIND_PORT``: the internal HTTP API and file-replication gRPC) with
``net.Listen("tcp", ":<port>")`` — all interfaces, and no setting moves them
(adapters/handlers/grpc/server.go, adapters/handlers/rest/clusterapi/serve.go). Both refuse
unauthenticated callers here: gRPC needs the API key, the data port the cluster password.
"""
import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from sensory import stack_secrets
from sensory.stack import config, process
from sensory.stack.service import Service

API_KEY_USER = "sensory"
CLUSTER_USER = "sensory-cluster"


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
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "false",
            "AUTHENTICATION_APIKEY_ENABLED": "true",
            "AUTHENTICATION_APIKEY_ALLOWED_KEYS": stack_secrets.ensure_secret(
                stack_secrets.WEAVIATE_API_KEY),
            "AUTHENTICATION_APIKEY_USERS": API_KEY_USER,
            "AUTHORIZATION_ADMINLIST_ENABLED": "true",
            "AUTHORIZATION_ADMINLIST_USERS": API_KEY_USER,
            "CLUSTER_BASIC_AUTH_USERNAME": CLUSTER_USER,
            "CLUSTER_BASIC_AUTH_PASSWORD": stack_secrets.ensure_secret(
                stack_secrets.WEAVIATE_CLUSTER_PASSWORD),
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

    def _meta(self, api_key: Optional[str]):
        request = urllib.request.Request(f"{self.address}/v1/meta")
        if api_key:
            request.add_header("Authorization", f"Bearer {api_key}")
        return urllib.request.urlopen(request, timeout=3)  # pylint: disable=consider-using-with

    def requires_auth(self) -> bool:
        try:
            with self._meta(None):
                return False
        except urllib.error.HTTPError as err:
            if err.code in (401, 403):
                return True
            raise

    def outdated(self) -> Optional[str]:
        try:
            return None if self.requires_auth() else "anonymous access is on"
        except Exception:  # pylint: disable=broad-except
            return None  # not answering: `up` handles it as down

    def version(self) -> Optional[str]:
        if self.pid is not None:
            try:
                with self._meta(stack_secrets.read_secret(stack_secrets.WEAVIATE_API_KEY)) as reply:
                    return json.load(reply).get("version")
            except OSError:
                pass
        return config.WEAVIATE_VERSION.lstrip("v") if self.installed() else None
