"""Streamed CSV and Parquet tables: read a record batch at a time, converted once into cached
.npy files that give the in-memory reader's samples, reused while the file is unchanged;
errors name the file and row, and leave no partial cache (no ML framework)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tuitrain.core import table_cache, tables
from tuitrain.core.data import load_splits
from tuitrain.core.datainfo import dataset_info
from tuitrain.core.datasets import cache_dir
from tuitrain.core.errors import UserError
from tuitrain.core.spec import DataSpec

# Rows of about 26 bytes: 60,000 of them make two of pyarrow's 1 MiB CSV blocks.
ROWS = 60_000
COLOURS = ("red", "green", "blue", "ultraviolet")


@pytest.fixture(autouse=True)
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache: where converted tables go."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return cache_dir()


def _csv(path: Path, rows: int = ROWS, colour: bool = True) -> Path:
    """Columns a, b, price (and colour, text, last)."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(-50, 50, rows), rng.normal(100, 20, rows).round(4)
    lines = ["a,b,price" + (",colour" if colour else "")]
    for i in range(rows):
        text = f",{COLOURS[(a[i] + 50) % 4]}" if colour else ""
        lines.append(f"{a[i]},{b[i]},{a[i] * 2 + b[i]:.3f}{text}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _converted(keras_home: Path) -> list[Path]:
    folder = keras_home / "tables"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _same(path: Path, target: str | None = None) -> None:
    whole = load_splits(DataSpec(str(path), target=target, stream="never"), seed=5)
    streamed = load_splits(DataSpec(str(path), target=target, stream="always"), seed=5)
    assert streamed.info == whole.info and streamed.streams is not None
    for part in ("train", "val", "test"):
        source = streamed.streams.split(part)
        x, y = source.get(np.arange(len(source)))
        np.testing.assert_allclose(x, getattr(whole, f"x_{part}"), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(y, getattr(whole, f"y_{part}"), rtol=1e-5, atol=1e-5)


def test_a_csv_converts_once_to_what_the_reader_gives(keras_home: Path, tmp_path: Path) -> None:
    path = _csv(tmp_path / "shop.csv")
    _same(path)  # text labels: the last column
    info = dataset_info(DataSpec(str(path), stream="always"))
    assert info.class_names == tuple(sorted(COLOURS)) and info.input_shape == (3,)
    assert info.description == f"CSV file, {ROWS} samples"
    [folder] = _converted(keras_home)
    labels = np.load(folder / table_cache.LABELS, mmap_mode="r")
    assert labels.dtype.kind == "U" and len(labels) == ROWS
    assert np.load(folder / table_cache.INPUTS, mmap_mode="r").dtype == np.float32
    _same(_csv(path, colour=False), target="price")  # regression: another conversion
    assert len(_converted(keras_home)) == 2


def test_a_converted_table_is_reused_until_it_changes(
    keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _csv(tmp_path / "shop.csv", rows=300, colour=False)
    spec = DataSpec(str(path), target="price", stream="always")
    first = load_splits(spec, 0)
    real = tables.batches
    reads: list[Path] = []
    monkeypatch.setattr(tables, "batches", lambda p, t: reads.append(p) or real(p, t))
    again = load_splits(spec, 0)
    assert reads == []  # served from the cache
    assert again.preprocessing == first.preprocessing
    _csv(path, rows=301, colour=False)
    assert load_splits(spec, 0).sizes != first.sizes and reads == [path]
    assert len(_converted(keras_home)) == 2


def test_parquet_streams_like_the_same_csv(keras_home: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rng = np.random.default_rng(1)
    n = 150_000  # three record batches
    columns = {"x1": rng.normal(size=n), "x2": rng.integers(0, 9, n), "y": rng.normal(3, 2, n)}
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table(columns), path)
    _same(path)
    assert dataset_info(DataSpec(str(path), stream="always")).task == "regression"


def _refused(path: Path, target: str | None, message: str, keras_home: Path) -> None:
    with pytest.raises(UserError) as exc:
        dataset_info(DataSpec(str(path), target=target, stream="always"))
    text = str(exc.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text
    assert _converted(keras_home) == []  # nothing half-written
    tables_dir = keras_home / "tables"
    assert not tables_dir.exists() or list(tables_dir.iterdir()) == []


def test_streamed_table_errors_leave_no_partial_cache(keras_home: Path, tmp_path: Path) -> None:
    path = _csv(tmp_path / "shop.csv")
    _refused(path, "label", "no column 'label'; columns: a, b, price, colour", keras_home)
    _refused(path, "a", "feature column 'colour' is not numeric (", keras_home)
    lines = path.read_text().splitlines()
    lines[ROWS - 10] = lines[ROWS - 10].replace(",", ",,", 1)  # in the second batch
    path.write_text("\n".join(lines) + "\n")
    _refused(path, None, f"row {ROWS - 9} has 5 fields; the header has 4", keras_home)
    lines[ROWS - 10] = "7,,3,red"
    path.write_text("\n".join(lines) + "\n")
    _refused(path, None, f"column 'b' has an empty cell in row {ROWS - 9}", keras_home)


def test_a_later_batch_may_hold_fractions_in_a_column_of_whole_numbers(tmp_path: Path) -> None:
    """Types are inferred from the first batch: its whole numbers in a feature column are
    read as floats, so the second batch's 1.5 is a number, not a conversion error."""
    path = _csv(tmp_path / "shop.csv")
    lines = path.read_text().splitlines()
    lines[ROWS - 10] = "1.5" + lines[ROWS - 10][lines[ROWS - 10].index(",") :]
    path.write_text("\n".join(lines) + "\n")
    x = np.concatenate([x for x, _, _ in tables.batches(path, None)])
    assert x[ROWS - 11, 0] == np.float32(1.5) and x.dtype == np.float32
