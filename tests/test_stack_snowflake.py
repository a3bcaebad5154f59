"""The Snowflake emulator's launcher (no emulator needed)."""
from sensory.stack.fakesnow_server import prune_empty_dirs


def test_prune_removes_empty_folders_and_keeps_files_and_the_root(tmp_path):
    (tmp_path / "DB" / "SCHEMA" / "STAGE_A").mkdir(parents=True)
    (tmp_path / "DB" / "SCHEMA" / "STAGE_B").mkdir()
    (tmp_path / "DB" / "SCHEMA" / "STAGE_B" / "rows.csv.gz").write_bytes(b"x")
    (tmp_path / "OTHER" / "EMPTY").mkdir(parents=True)
    assert prune_empty_dirs(tmp_path) == 3  # STAGE_A, OTHER/EMPTY, then OTHER
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "DB", "DB/SCHEMA", "DB/SCHEMA/STAGE_B", "DB/SCHEMA/STAGE_B/rows.csv.gz"]
    assert prune_empty_dirs(tmp_path) == 0
    assert tmp_path.exists()
