"""The local stack's generated secrets: files under ``.local/secrets/``, mode 0600.

``sensory stack up`` creates them on first use (Weaviate's API key, Redis's password, ...);
every client of ours reads them from here when it talks to the local stack and no explicit
setting (``WEAVIATE_API_KEY``, ``REDIS_URL``) says otherwise. They live in the git-ignored
``.local/`` of the checkout, never in code or in the repository.
"""
import os
import secrets
from pathlib import Path
from typing import Optional

WEAVIATE_API_KEY = "weaviate-api-key"
WEAVIATE_CLUSTER_PASSWORD = "weaviate-cluster-password"
REDIS_PASSWORD = "redis-password"


def local_dir() -> Path:
    """The git-ignored cache: ``$SENSORY_LOCAL_DIR``, else ``.local/`` of the checkout.

    The checkout is found by walking up from the working directory to the folder holding
    ``setup.py``, so commands work from any sub-folder.
    """
    if os.environ.get("SENSORY_LOCAL_DIR"):
        return Path(os.environ["SENSORY_LOCAL_DIR"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "setup.py").exists() and (folder / "stack").is_dir():
            return folder / ".local"
    return here / ".local"


def secret_path(name: str) -> Path:
    """Where the secret ``name`` is kept."""
    return local_dir() / "secrets" / name


def read_secret(name: str) -> Optional[str]:
    """The secret ``name`` of the local stack, or None before the first ``stack up``."""
    try:
        value = secret_path(name).read_text(encoding="ascii").strip()
    except OSError:
        return None
    return value or None


def ensure_secret(name: str) -> str:
    """Returns the secret ``name``, generating it (48 hex characters, file mode 0600) if missing.

    Hex keeps the value safe inside URLs and environment variables without quoting.
    """
    existing = read_secret(name)
    if existing:
        return existing
    path = secret_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    value = secrets.token_hex(24)
    # O_EXCL: two concurrent `up`s must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret(name) or value
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value
