"""``sensory snowflake init``, ``sensory weaviate init`` and ``sensory search``."""
import json

import click

from sensory.io.snowflake import init_schema
from sensory.io.snowflake_conn import SnowflakeSettings
from sensory.io.weaviate import WeaviateSettings, connect, init_collections
from sensory.io.weaviate_schema import (COLLECTIONS, HNSW_EF_CONSTRUCTION,
                                        HNSW_MAX_CONNECTIONS, SOCIAL_POST)
from sensory.settings import ConfigurationError


@click.group(name="snowflake")
def snowflake() -> None:
    """The Snowflake schema (the local emulator unless SNOWFLAKE_ACCOUNT is set)."""


@snowflake.command(name="init")
def snowflake_init() -> None:
    """Create database MILLIONX, schema RAW_DATA, tables and views (idempotent)."""
    try:
        statements = init_schema(SnowflakeSettings.from_env())
    except ConfigurationError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"applied {len(statements)} statements")


@click.group(name="weaviate")
def weaviate() -> None:
    """The Weaviate collections."""


@weaviate.command(name="init")
@click.option("--max-connections", type=click.IntRange(min=1), default=HNSW_MAX_CONNECTIONS,
              show_default=True, help="HNSW neighbours per node of a collection created now.")
@click.option("--ef-construction", type=click.IntRange(min=1), default=HNSW_EF_CONSTRUCTION,
              show_default=True, help="HNSW candidate list of an insert, for a collection "
                                      "created now.")
def weaviate_init(max_connections: int, ef_construction: int) -> None:
    """Create the SocialPost and MarketOrder collections (idempotent; existing ones keep their
    index settings)."""
    with connect(WeaviateSettings.from_env()) as client:
        created = init_collections(client, max_connections=max_connections,
                                   ef_construction=ef_construction)
    click.echo(f"created: {', '.join(created) or 'nothing (all exist)'}")


def semantic_search(query: str, *, collection: str, k: int, model: str = None,
                    backend: str = "torch") -> list[dict]:
    """Embeds ``query`` with the pipelines' model and returns the ``k`` nearest objects."""
    from weaviate.classes.query import MetadataQuery  # pylint: disable=import-outside-toplevel
    # Imported here, not at the top: it imports torch (about 3 s), which every other `sensory`
    # command would pay for at start-up.
    from sensory.transforms.embeddings_model import (  # pylint: disable=import-outside-toplevel
        load_encoder)
    vector = load_encoder(model, backend, "cpu").encode(
        [query], normalize_embeddings=True)[0].tolist()
    with connect(WeaviateSettings.from_env()) as client:
        if not client.collections.exists(collection):
            raise click.ClickException(f"collection {collection} does not exist yet")
        hits = client.collections.get(collection).query.near_vector(
            vector, limit=k, return_metadata=MetadataQuery(distance=True))
    return [{"uuid": str(hit.uuid), "distance": hit.metadata.distance,
             "properties": hit.properties} for hit in hits.objects]


@click.command(name="search")
@click.argument("query")
@click.option("--collection", type=click.Choice(sorted(COLLECTIONS)), default=SOCIAL_POST,
              show_default=True)
@click.option("-k", default=5, show_default=True, help="How many hits.")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@click.option("--embedding_model", default=None, help="Same as the pipelines' option.")
def search(query: str, collection: str, k: int, as_json: bool, embedding_model: str) -> None:
    """Semantic search: the objects nearest to QUERY, with their cosine distance."""
    hits = semantic_search(query, collection=collection, k=k, model=embedding_model)
    if as_json:
        click.echo(json.dumps(hits, default=str, ensure_ascii=False, indent=2))
        return
    for hit in hits:
        props = hit["properties"]
        text = props.get("content") or props.get("product_name") or ""
        click.echo(f"{hit['distance']:.3f}  [{props.get('product_category')}]  {text[:90]}")
