"""``sensory demo``: the main job on bundled sample data, with a summary."""
import os
import secrets
from pathlib import Path

import click

from sensory.pipelines import market, social
from sensory.samples import sample_lines

DEMO_DIR = Path(".local") / "demo"


def _demo_key(directory: Path) -> Path:
    # A random per-checkout key kept under .local/ (git-ignored): never a constant in code.
    key_file = directory / "pii.key"
    if not key_file.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32) + "\n")
        os.chmod(key_file, 0o600)
    return key_file


@click.command(name="demo")
@click.option("--records", default=400, show_default=True, help="Sample lines per pipeline.")
@click.option("--workdir", default=str(DEMO_DIR), show_default=True,
              help="Where sample input, the demo PII key and outputs go.")
def demo(records: int, workdir: str) -> None:
    """Run both pipelines on generated sample data and print what came out."""
    directory = Path(workdir)
    key_file = os.environ.get("SENSORY_PII_KEY_FILE") or str(_demo_key(directory))
    for kind, run in (("social", social.run), ("market", market.run)):
        input_file = directory / f"sample_{kind}.jsonl"
        input_file.write_text("\n".join(sample_lines(kind, records)) + "\n", encoding="utf-8")
        output_dir = directory / "out" / kind
        for old in output_dir.glob("*.jsonl"):
            old.unlink()
        click.echo(f"== {kind}: {records} sample lines from {input_file}")
        code = run([f"--input_file={input_file}", f"--output_dir={output_dir}",
                    f"--pii_key_file={key_file}"])
        if code:
            raise SystemExit(code)
        click.echo(f"   outputs in {output_dir}/")
