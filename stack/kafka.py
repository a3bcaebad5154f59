"""Apache Kafka: a single KRaft node (broker + controller) from Maven Central jars.

Maven resolves ``org.apache.kafka:kafka_2.13`` and its runtime dependencies (plus log4j2 for
logging) into ``.local/kafka/libs``; the broker runs as ``java -cp libs/* kafka.Kafka``.
"""
import base64
import shutil
import uuid
from pathlib import Path
from typing import Optional

from sensory.stack import config, process
from sensory.stack.service import Service
from sensory.io.kafka_admin import describe_topics, ensure_topics
from sensory.topics import TOPICS

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sensory</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId><version>{log4j}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version></dependency>
  </dependencies>
</project>
"""

_SERVER_PROPERTIES = """process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=1
auto.create.topics.enable=false
"""

_LOG4J2 = """Configuration:
  Appenders:
    Console: {name: STDOUT, PatternLayout: {pattern: "[%d] %p %m (%c)%n"}}
  Loggers:
    Root: {level: INFO, AppenderRef: [{ref: STDOUT}]}
    Logger: [{name: kafka.request.logger, level: WARN}, {name: state.change.logger, level: WARN}]
"""

def _cluster_id() -> str:
    """A random cluster id in Kafka's ``Uuid`` text form (URL-safe base64, no padding).

    One id in 64 would start with ``-``, which ``kafka-storage format -t`` takes for an option
    (a fresh install then failed to format its storage); Kafka's own ``Uuid.randomUuid`` draws
    again in that case, and so does this.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaService(Service):
    """A single-node KRaft Kafka broker on 127.0.0.1."""

    name = "kafka"
    start_timeout_s = 90.0

    @property
    def address(self) -> str:
        return f"{config.HOST}:{config.KAFKA_PORT}"

    @property
    def _libs(self) -> Path:
        return self.home / "libs"

    def installed(self) -> bool:
        return (self._libs / f"kafka_2.13-{config.KAFKA_VERSION}.jar").exists()

    def install(self) -> None:
        if self.installed():
            return
        for tool in ("java", "mvn"):
            if shutil.which(tool) is None:
                raise process.StackError(f"kafka needs {tool} (Java 17 and Maven) on PATH")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "pom.xml").write_text(_POM.format(
            kafka=config.KAFKA_VERSION, log4j=config.LOG4J_VERSION, slf4j=config.SLF4J_VERSION))
        shutil.rmtree(self._libs, ignore_errors=True)
        process.run_checked(["mvn", "-q", "-B", "dependency:copy-dependencies",
                             f"-DoutputDirectory={self._libs}", "-DincludeScope=runtime"],
                            what="resolving Kafka jars with Maven",
                            log_file=self.home / "install.log", cwd=self.home)

    def _java(self, *args: str) -> list[str]:
        return ["java", "-Xms256m", "-Xmx768m",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
                "-cp", f"{self._libs}/*", *args]

    def launch(self) -> None:
        data = self.home / "data"
        properties = self.home / "server.properties"
        properties.write_text(_SERVER_PROPERTIES.format(
            host=config.HOST, port=config.KAFKA_PORT,
            controller_port=config.KAFKA_CONTROLLER_PORT, data=data))
        (self.home / "log4j2.yaml").write_text(_LOG4J2)
        if not (data / "meta.properties").exists():
            process.run_checked(self._java("kafka.tools.StorageTool", "format", "-t",
                                           _cluster_id(), "-c", str(properties)),
                                what="formatting Kafka storage", log_file=self.log_file)
        process.start(self._java("kafka.Kafka", str(properties)), pid_file=self.pid_file,
                      log_file=self.log_file)

    def healthy(self) -> bool:
        if not process.port_open(config.HOST, config.KAFKA_PORT):
            return False
        describe_topics(self.address, timeout_s=5)
        return True

    def after_start(self) -> None:
        ensure_topics(self.address, TOPICS)
        self._wait_for_group_coordinator()

    def _wait_for_group_coordinator(self, timeout_s: float = 60.0) -> None:
        # A fresh broker creates __consumer_offsets on the first group request and answers
        # NOT_COORDINATOR until it is ready; clients should find it ready once `up` returns.
        from confluent_kafka import Consumer, TopicPartition  # pylint: disable=import-outside-toplevel
        consumer = Consumer({"bootstrap.servers": self.address, "group.id": "sensory-stack-probe",
                             "log_level": 3})
        try:
            process.wait_until(
                lambda: consumer.committed([TopicPartition("context.weather", 0)], timeout=5)
                is not None, timeout_s=timeout_s, what="kafka group coordinator",
                log_file=self.log_file)
        finally:
            consumer.close()

    def version(self) -> Optional[str]:
        return config.KAFKA_VERSION if self.installed() else None
