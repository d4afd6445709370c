"""Streamed .npy files and text windows: the same samples as the in-memory path, read a batch
at a time, never the whole file; statistics in chunks; what `data.stream` decides; and the
one-line errors of a bad pair of .npy files (no ML framework)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from tuitrain.core import sources_arrays, streaming
from tuitrain.core.data import Splits, load_splits
from tuitrain.core.datainfo import dataset_info
from tuitrain.core.errors import UserError
from tuitrain.core.preprocessing import Scaling
from tuitrain.core.sources_arrays import RowSource
from tuitrain.core.spec import DataSpec

PARTS = ("train", "val", "test")


def _npy(folder: Path, x: np.ndarray, y: np.ndarray) -> Path:
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    return folder / "x.npy"


def _both(path: Path, **kw: object) -> tuple[Splits, Splits]:
    """The data loaded whole, and streamed, with the same seed."""
    whole = load_splits(DataSpec(str(path), stream="never", **kw), seed=3)  # type: ignore[arg-type]
    streamed = load_splits(DataSpec(str(path), stream="always", **kw), seed=3)  # type: ignore[arg-type]
    assert whole.streams is None and streamed.streams is not None
    return whole, streamed


def _assert_same_samples(whole: Splits, streamed: Splits, exact: bool) -> None:
    assert streamed.info == whole.info and streamed.sizes == whole.sizes
    assert streamed.streams is not None and whole.index is not None and streamed.index is not None
    for part, mine, theirs in zip(PARTS, streamed.index.parts, whole.index.parts, strict=True):
        np.testing.assert_array_equal(mine, theirs)
        source = streamed.streams.split(part)
        x, y = source.get(np.arange(len(source)))
        want_x, want_y = getattr(whole, f"x_{part}"), getattr(whole, f"y_{part}")
        assert x.dtype == want_x.dtype and y.dtype == want_y.dtype and x.shape == want_x.shape
        if exact:
            np.testing.assert_array_equal(x, want_x)
            np.testing.assert_array_equal(y, want_y)
        else:  # statistics taken in chunks: equal to float32 precision
            np.testing.assert_allclose(x, want_x, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
        rows = np.array([len(source) - 1, 0, 1])  # any order
        np.testing.assert_array_equal(source.get(rows)[1], want_y[rows])


def test_npy_features_stream_as_they_load_whole(tmp_path: Path) -> None:
    """Float features standardized with chunked statistics; labels as class ids."""
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, (400, 6))
    path = _npy(tmp_path, x, rng.choice([3, 7, 9], 400))
    whole, streamed = _both(path, target="y.npy")
    assert whole.info.class_names == ("3", "7", "9") and whole.info.description == (
        "NPY file, 400 samples"
    )
    _assert_same_samples(whole, streamed, exact=False)
    mine, theirs = streamed.preprocessing.inputs, whole.preprocessing.inputs
    assert mine is not None and theirs is not None
    np.testing.assert_allclose(mine.mean, theirs.mean, rtol=1e-12)
    np.testing.assert_allclose(mine.std, theirs.std, rtol=1e-12)


def test_npy_regression_targets_and_absolute_target_path(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = _npy(tmp_path, rng.normal(size=(300, 4)).astype(np.float32), rng.normal(50, 9, (300, 2)))
    whole, streamed = _both(path, target=str(tmp_path / "y.npy"))
    assert whole.info.task == "regression" and whole.info.num_outputs == 2
    _assert_same_samples(whole, streamed, exact=False)
    assert streamed.preprocessing.targets is not None


def test_npy_pixels_and_token_ids_are_converted_per_batch(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = _npy(tmp_path, rng.integers(0, 256, (120, 5, 4, 3), np.uint8), rng.integers(0, 2, 120))
    whole, streamed = _both(path, target="y.npy")
    assert whole.info.input_shape == (5, 4, 3) and whole.preprocessing.inputs is None
    _assert_same_samples(whole, streamed, exact=True)
    path = _npy(tmp_path, rng.integers(0, 30, (90, 7), np.int16), np.array(["a", "b", "c"] * 30))
    whole, streamed = _both(path, target="y.npy")
    assert whole.info.input_dtype == "int64" and whole.info.class_names == ("a", "b", "c")
    _assert_same_samples(whole, streamed, exact=True)


def test_text_windows_are_cut_per_batch(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text("".join(f"line {i}: the quick brown fox {i * i}\n" for i in range(300)))
    whole, streamed = _both(path, block_size=16)
    _assert_same_samples(whole, streamed, exact=True)
    assert streamed.preprocessing == whole.preprocessing  # the vocabulary and its split
    source = streamed.streams.train  # type: ignore[union-attr]
    assert source.ids.dtype == np.uint8  # type: ignore[attr-defined]


def test_a_streamed_npy_is_read_a_batch_at_a_time(tmp_path: Path) -> None:
    """An epoch over a 200 MB .npy file leaves anonymous memory (RssAnon: not the file's
    pages, which the kernel can drop) far below the file's size."""
    n, shape = 65_536, (32, 32, 3)
    x = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.uint8, (n, *shape))
    for start in range(0, n, 4096):
        x[start : start + 4096] = start // 4096
    x.flush()
    del x
    np.save(tmp_path / "y.npy", np.arange(n) % 10)
    before = _rss_anon()
    splits = load_splits(DataSpec(str(tmp_path / "x.npy"), target="y.npy", stream="always"), 0)
    streams = splits.streams
    assert streams is not None and sum(streams.sizes) == n
    peak = 0
    order = np.random.default_rng(0).permutation(len(streams.train))
    for start in range(0, len(order), 512):
        x_batch, _ = streams.train_batch(0, order[start : start + 512])
        peak = max(peak, _rss_anon() - before)
    assert x_batch.dtype == np.float32 and x_batch.shape[1:] == shape
    file_size = (tmp_path / "x.npy").stat().st_size
    assert peak < file_size / 8, (peak, file_size)


def _rss_anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no RssAnon in /proc/self/status")


def test_a_row_source_pickles_as_its_paths(tmp_path: Path) -> None:
    """A worker process gets the file's path and maps it itself, not a copy of the data."""
    path = _npy(tmp_path, np.zeros((20_000, 64), np.float32), np.arange(20_000) % 2)
    splits = load_splits(DataSpec(str(path), target="y.npy", stream="always"), 0)
    source = splits.streams.train  # type: ignore[union-attr]
    assert isinstance(source, RowSource)
    copy = pickle.loads(pickle.dumps(source))
    assert len(pickle.dumps(source)) < 20_000 * 64 * 4 / 10  # the rows index, not the data
    np.testing.assert_array_equal(copy.get(np.arange(5))[0], source.get(np.arange(5))[0])


def test_statistics_in_chunks_match_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    x = (rng.normal(1e3, 2.0, (5000, 3, 4))).astype(np.float32)
    chunks = [x[i : i + 333] for i in range(0, 5000, 333)]
    fit, merged = Scaling.fit(x), Scaling.fit_chunks(chunks)
    np.testing.assert_allclose(merged.mean, fit.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.std, fit.std, rtol=1e-9)
    constant = Scaling.fit_chunks([np.ones((10, 2), np.float32)] * 3)
    assert constant.std == (1.0, 1.0)  # centred, not divided by ~0


def test_auto_streams_over_the_budget_never_refuses_what_does_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _npy(tmp_path, np.zeros((100, 10), np.float32), np.arange(100) % 2)
    auto = DataSpec(str(path), target="y.npy")
    assert load_splits(auto, 0).streams is None  # 4 kB + labels: under 1 GiB
    monkeypatch.setattr(streaming, "STREAM_BUDGET", 1000)
    assert load_splits(auto, 0).streams is not None
    monkeypatch.setattr(streaming, "available_memory", lambda: 2000)
    with pytest.raises(UserError) as exc:
        dataset_info(DataSpec(str(path), target="y.npy", stream="never"))
    text = str(exc.value)
    assert "\n" not in text and "more than the" in text and 'data.stream = "auto"' in text


def test_a_chunked_pass_finds_non_finite_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.ones((200, 3))
    x[150, 1] = np.nan
    path = _npy(tmp_path, x, np.arange(200) % 2)
    monkeypatch.setattr(sources_arrays, "CHUNK_BYTES", 1024)  # many chunks
    with pytest.raises(UserError, match=r"inputs contain NaN or infinite values \(row 150\)"):
        load_splits(DataSpec(str(path), target="y.npy", stream="always"), 0)


@pytest.mark.parametrize(
    ("x", "y", "target", "message"),
    [
        (np.zeros((4, 2)), np.zeros(4), None, "a .npy file holds the inputs only; pass --target"),
        (np.zeros((4, 2)), np.zeros(4), "nope.npy", "labels file not found (--target nope.npy"),
        (np.zeros((5, 2)), np.zeros(4), "y.npy", "holds 5 samples but"),
        (np.zeros((4, 2)), np.array([b"a"] * 4, object), "y.npy", "cannot read it"),
        (np.array(["a"] * 4), np.zeros(4), "y.npy", "inputs must be numbers"),
    ],
)
def test_bad_npy_pairs_are_one_line_errors(
    tmp_path: Path, x: np.ndarray, y: np.ndarray, target: str | None, message: str
) -> None:
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y, allow_pickle=True)
    for stream in ("never", "always"):
        with pytest.raises(UserError) as exc:
            dataset_info(DataSpec(str(tmp_path / "x.npy"), target=target, stream=stream))  # type: ignore[arg-type]
        text = str(exc.value)
        assert message in text and "\n" not in text, text
    if "holds 5 samples" in message:
        assert f"{tmp_path / 'y.npy'} holds 4 labels" in text
