"""The checkpoint store: the manifest is written last, the last k are kept plus the best,
damaged and partial checkpoints are skipped or cleaned, and a save that fails or is killed
midway leaves the previous checkpoint loadable."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tuitrain.core import checkpoints
from tuitrain.core.checkpoints import CheckpointStore, digest


def payload(step: int) -> bytes:
    return f"weights at step {step}\n".encode() * 500


def save(
    store: CheckpointStore, epoch: int, best: bool = False, step: int | None = None, **kw: object
):
    step = epoch * 10 if step is None else step

    def writer(path: Path) -> None:
        if store.is_dir:
            path.mkdir()
            (path / "weights").write_bytes(payload(step))
        else:
            path.write_bytes(payload(step))

    return store.save(writer, epoch, step, {"val_loss": 1.0 / (epoch + 1)}, best=best, **kw)  # type: ignore[arg-type]


def names(store: CheckpointStore) -> list[int]:
    return [c.epoch for c in store.complete()]


def test_save_and_read_back(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpts", ".pt")
    ckpt = save(store, 1, best=True, step_in_epoch=0, state={"schedule": {"scale": 0.5}})
    assert ckpt.path.read_bytes() == payload(10)
    manifest = json.loads((tmp_path / "ckpts" / f"{ckpt.name}.json").read_text())
    assert manifest["sha256"] == digest(ckpt.path) and manifest["state"]["schedule"]["scale"] == 0.5
    assert store.latest() == ckpt and store.best() == ckpt
    assert store.complete(verify=True) == [ckpt]


def test_the_manifest_is_written_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CheckpointStore(tmp_path, ".pt")
    order: list[str] = []
    real = checkpoints.write_atomic

    def spy(target: Path, data: bytes | str) -> None:
        if target.name.endswith(".pt.json"):
            ckpt = tmp_path / target.name[: -len(".json")]
            # the checkpoint is complete and in place before its manifest exists
            assert ckpt.read_bytes() == payload(20)
            assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
            order.append("manifest")
        else:
            order.append(target.name)
        real(target, data)

    monkeypatch.setattr(checkpoints, "write_atomic", spy)
    save(store, 2, best=True)
    assert order == ["manifest", "best.json"]


def test_keep_last_k_plus_best(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, ".pt", keep=3)
    for epoch in range(1, 8):
        save(store, epoch, best=epoch == 2)
    assert names(store) == [2, 5, 6, 7]
    assert store.best().epoch == 2  # type: ignore[union-attr]
    save(store, 8, best=True)
    assert names(store) == [6, 7, 8]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 3 * 2 + 1  # checkpoints, their manifests, best.json


def test_keep_one_with_best(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, ".pt", keep=1)
    save(store, 1, best=True)
    save(store, 2)
    save(store, 3)
    assert names(store) == [1, 3]
    assert store.best().epoch == 1 and store.latest().epoch == 3  # type: ignore[union-attr]
    save(store, 4, best=True)
    assert names(store) == [4]


def test_latest_skips_a_corrupted_checkpoint(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, ".pt")
    save(store, 1, best=True)
    second = save(store, 2, best=True)
    data = bytearray(second.path.read_bytes())
    data[100] ^= 0xFF
    second.path.write_bytes(bytes(data))
    assert store.latest().epoch == 1  # type: ignore[union-attr]
    assert store.best() is None  # the best pointer names the damaged one
    assert [c.epoch for c in store.complete(verify=True)] == [1]
    second.path.unlink()
    assert store.latest().epoch == 1  # type: ignore[union-attr]


def test_damaged_manifests_and_pointer(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, ".pt")
    first = save(store, 1, best=True)
    second = save(store, 2)
    (tmp_path / f"{second.name}.json").write_text('{"name": "cut')
    assert store.latest() == first
    (tmp_path / f"{second.name}.json").write_text("[]")
    assert store.latest() == first
    for junk in ("[]", "null", "{", '{"nme": 1}', '{"name": "ckpt-none.pt"}'):
        (tmp_path / "best.json").write_text(junk)
        assert store.best() is None
    assert store.latest() == first


def test_partials_are_cleaned(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, ".pt")
    good = save(store, 1)
    (tmp_path / ".ckpt-e0002-s000000020.pt.abc123.tmp").mkdir()
    (tmp_path / ".ckpt-e0002-s000000020.pt.abc123.tmp" / "ckpt-e0002-s000000020.pt").write_bytes(
        b"x"
    )
    (tmp_path / "ckpt-e0003-s000000030.pt").write_bytes(b"no manifest: incomplete")
    (tmp_path / ".best.json.zz.tmp").mkdir()
    removed = sorted(p.name for p in store.clean_partials())
    assert removed == [
        ".best.json.zz.tmp",
        ".ckpt-e0002-s000000020.pt.abc123.tmp",
        "ckpt-e0003-s000000030.pt",
    ]
    assert store.complete() == [good] and good.path.exists()


@pytest.mark.parametrize("is_dir", [False, True])
def test_a_writer_that_raises_midway_keeps_the_previous(tmp_path: Path, is_dir: bool) -> None:
    store = CheckpointStore(tmp_path, "" if is_dir else ".pt", is_dir=is_dir)
    first = save(store, 1, best=True)

    def dies(path: Path) -> None:
        if is_dir:
            path.mkdir()
            path = path / "weights"
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        store.save(dies, 2, 20, {}, best=True)
    assert store.latest() == first and store.best() == first
    assert digest(first.path) == first.sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [first.name, f"{first.name}.json", "best.json"]
    )


def test_a_kill_during_a_save_keeps_the_previous(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, ".pt")
    first = save(store, 1, best=True)
    pid = os.fork()
    if pid == 0:

        def slow(path: Path) -> None:
            with open(path, "wb") as f:
                for _ in range(1000):
                    f.write(b"w" * 4096)
                    f.flush()
                    time.sleep(0.01)

        try:
            store.save(slow, 2, 20, {}, best=True)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 10
    while (
        not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()) and time.monotonic() < deadline
    ):
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    reopened = CheckpointStore(tmp_path, ".pt")
    assert reopened.clean_partials()
    assert reopened.latest() == first and reopened.best() == first
    assert first.path.read_bytes() == payload(10)


def test_same_position_saved_twice_overwrites(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, ".pt")
    save(store, 1, step=10)
    again = save(store, 1, step=10, best=True)
    assert store.complete() == [again] and store.best() == again


def test_a_save_hashes_only_the_checkpoint_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-hashing kept checkpoints on every save (to prune, to find the best) would read
    gigabytes per save on a real model: each save reads back the new file only."""
    store = CheckpointStore(tmp_path, ".pt", keep=2)
    hashed: list[str] = []
    real = checkpoints.digest
    monkeypatch.setattr(checkpoints, "digest", lambda p: hashed.append(p.name) or real(p))
    names = []
    for epoch in range(1, 7):
        ckpt = store.save(lambda p, e=epoch: p.write_bytes(bytes([e]) * 1000), epoch, epoch * 10,
                          {"val_loss": 1.0 / epoch}, best=epoch == 2)
        names.append(ckpt.name)
    assert hashed == names
    assert [c.epoch for c in store.complete()] == [2, 5, 6]  # the best is kept past `keep`
