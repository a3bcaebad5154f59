"""Where the stack lives and which ports it uses; every port has an environment override."""
from pathlib import Path

from sensory import endpoints, stack_secrets

KAFKA_VERSION = "4.1.1"
WEAVIATE_VERSION = "v1.35.2"
LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.16"


_port = endpoints.port


def local_dir() -> Path:
    """The git-ignored cache (see ``sensory.stack_secrets.local_dir``)."""
    return stack_secrets.local_dir()


HOST = endpoints.HOST
KAFKA_PORT = _port("SENSORY_KAFKA_PORT", 9092)
KAFKA_CONTROLLER_PORT = _port("SENSORY_KAFKA_CONTROLLER_PORT", 9093)
REDIS_PORT = _port("SENSORY_REDIS_PORT", 6379)
WEAVIATE_PORT = _port("SENSORY_WEAVIATE_PORT", 8080)
WEAVIATE_GRPC_PORT = _port("SENSORY_WEAVIATE_GRPC_PORT", 50051)
# Cluster-internal Weaviate ports, moved off their defaults to avoid clashing with other tools.
WEAVIATE_GOSSIP_PORT = _port("SENSORY_WEAVIATE_GOSSIP_PORT", 17946)
WEAVIATE_DATA_PORT = _port("SENSORY_WEAVIATE_DATA_PORT", 17947)
WEAVIATE_RAFT_PORT = _port("SENSORY_WEAVIATE_RAFT_PORT", 18300)
WEAVIATE_RAFT_RPC_PORT = _port("SENSORY_WEAVIATE_RAFT_RPC_PORT", 18301)
SNOWFLAKE_PORT = _port("SENSORY_SNOWFLAKE_PORT", 8765)
WEATHER_PORT = _port("SENSORY_WEATHER_PORT", 8091)
# Monitoring (docs/observability.md): Prometheus, the Pushgateway that keeps the final metrics of
# bounded runs, the Kafka lag exporter, and the /metrics endpoints Prometheus scrapes.
PROMETHEUS_PORT = _port("SENSORY_PROMETHEUS_PORT", 9090)
PUSHGATEWAY_PORT = _port("SENSORY_PUSHGATEWAY_PORT", 9091)
KAFKA_EXPORTER_PORT = _port("SENSORY_KAFKA_EXPORTER_PORT", 9308)
PIPELINE_METRICS_PORT = _port("SENSORY_PIPELINE_METRICS_PORT", 9464)
SCRAPER_METRICS_PORT = _port("SENSORY_SCRAPER_METRICS_PORT", 9465)
FLINK_JM_METRICS_PORT = _port("SENSORY_FLINK_JM_METRICS_PORT", 9249)
FLINK_TM_METRICS_PORT = _port("SENSORY_FLINK_TM_METRICS_PORT", 9250)
# Flink session cluster (`sensory stack up --flink`): REST/UI, JobManager RPC and blob server,
# TaskManager RPC and data, Prometheus reporters, the Beam Python worker pool (EXTERNAL
# environment) and the Java expansion service for the cross-language Kafka read.
FLINK_REST_PORT = _port("SENSORY_FLINK_REST_PORT", 8081)
FLINK_RPC_PORT = _port("SENSORY_FLINK_RPC_PORT", 6123)
FLINK_BLOB_PORT = _port("SENSORY_FLINK_BLOB_PORT", 6124)
FLINK_TM_RPC_PORT = _port("SENSORY_FLINK_TM_RPC_PORT", 6122)
FLINK_TM_DATA_PORT = _port("SENSORY_FLINK_TM_DATA_PORT", 6121)
# Not Beam's customary 50000: that lies in Linux's ephemeral range (32768-60999), where an
# outgoing socket of the JVMs or of a client can hold it when the pool starts (seen once).
WORKER_POOL_PORT = _port("SENSORY_WORKER_POOL_PORT", 18550)
EXPANSION_PORT = _port("SENSORY_EXPANSION_PORT", 8097)
