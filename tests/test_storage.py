from pathlib import Path

import pytest

from starloom_core.storage import atomic_put_file, atomic_write_text, clip_path, local_copy, storage_root


def test_atomic_writes_leave_only_the_finished_file(tmp_path):
    root = storage_root(tmp_path)
    target = root / "assets" / "script" / "2026-11-27.json"
    atomic_write_text(target, "{}")
    atomic_write_text(target, '{"v": 2}')
    assert Path(target.path).read_text() == '{"v": 2}'
    assert [p.name for p in Path(target.path).parent.iterdir()] == ["2026-11-27.json"]


def test_a_failed_copy_keeps_the_previous_file(tmp_path):
    root = storage_root(tmp_path)
    target = clip_path(root, "ab" * 16)
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"first")
    atomic_put_file(source, target)
    with pytest.raises(FileNotFoundError):
        atomic_put_file(tmp_path / "missing.mp4", target)
    assert Path(target.path).read_bytes() == b"first"
    assert len(list(Path(target.path).parent.iterdir())) == 1


def test_relative_roots_become_absolute_so_every_process_agrees(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage_root("var/storage").path == str(tmp_path / "var" / "storage")
    with local_copy(storage_root(tmp_path) / "x") as local:
        assert local == tmp_path / "x"
