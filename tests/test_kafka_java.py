"""The java Kafka reader's choice and its Beam 2.62 payload (no cluster needed)."""
import pytest
from apache_beam.portability.api import external_transforms_pb2
from apache_beam.typehints.schemas import named_tuple_from_schema

from sensory.io.kafka import ReadFromKafka, resolve_impl
from sensory.io.kafka_java import URN_WITH_METADATA, ReadFromKafka262
from sensory.settings import ConfigurationError

# Beam Java 2.62.0's KafkaIO.Read.External.Configuration setters, by payload field name.
FIELDS_262 = {"consumer_config", "topics", "key_deserializer", "value_deserializer",
              "start_read_time", "max_num_records", "max_read_time",
              "commit_offset_in_finalize", "timestamp_policy", "consumer_polling_timeout",
              "redistribute", "redistribute_num_keys", "allow_duplicates"}


@pytest.mark.parametrize("impl,runner,expected", [
    ("auto", "FlinkRunner", "java"), ("auto", "PortableRunner", "java"),
    ("auto", "DirectRunner", "python"), ("auto", None, "python"),
    ("auto", "apache_beam.runners.portability.flink_runner.FlinkRunner", "java"),
    ("python", "FlinkRunner", "python"), ("java", "DirectRunner", "java"),
])
def test_auto_picks_java_on_flink_and_python_elsewhere(impl, runner, expected):
    assert resolve_impl(impl, runner) == expected


def test_unknown_impl_is_refused():
    with pytest.raises(ValueError, match="impl must be one of"):
        resolve_impl("scala", "FlinkRunner")


def test_payload_has_exactly_the_262_fields():
    read = ReadFromKafka262(consumer_config={"bootstrap.servers": "b:9092"}, topics=["t"],
                            expansion_service="localhost:1", max_num_records=5)
    assert read._urn == URN_WITH_METADATA  # pylint: disable=protected-access
    payload = external_transforms_pb2.ExternalConfigurationPayload()
    payload.ParseFromString(read._payload)  # pylint: disable=protected-access
    assert {field.name for field in payload.schema.fields} == FIELDS_262
    row = named_tuple_from_schema(payload.schema)
    assert "dynamic_read_poll_interval_seconds" not in row._fields


def test_java_without_expansion_service_says_how_to_get_one():
    with pytest.raises(ConfigurationError, match="--kafka_expansion_service"):
        ReadFromKafka(bootstrap_servers="b:9092", topics=["t"], consumer_group="g",
                      impl="java")
