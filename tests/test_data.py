"""Tests for the dataset catalogue and loaders (no network, no ML framework)."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tuitrain.core import data, datasets, preprocessing
from tuitrain.core.data import load_splits
from tuitrain.core.datainfo import dataset_info
from tuitrain.core.datasets import builtin_names, cache_dir
from tuitrain.core.errors import UserError
from tuitrain.core.spec import DataSpec

REPO = Path(__file__).resolve().parent.parent
LOCAL = [n for n in builtin_names() if not datasets.BUILTIN[n].info.needs_download]
SMALL = {"moons": 300, "spirals": 300, "sine": 300}


def _spec(name: str, **kw: object) -> DataSpec:
    return DataSpec(name, samples=SMALL.get(name, 0), **kw)  # type: ignore[arg-type]


def _check(splits: data.Splits) -> None:
    info = splits.info
    for x, y in (
        (splits.x_train, splits.y_train),
        (splits.x_val, splits.y_val),
        (splits.x_test, splits.y_test),
    ):
        assert x.shape[1:] == info.input_shape and x.dtype == np.dtype(info.input_dtype)
        assert len(x) == len(y)
        if info.task == "classification":
            assert y.dtype == np.int64 and y.shape[1:] == info.target_shape
            lowest = -1 if info.target_shape else 0  # -1: a position that asks nothing
            assert y.size == 0 or lowest <= y.min() <= y.max() < info.num_outputs
        else:
            assert y.dtype == np.float32 and y.shape[1:] == (info.num_outputs,)


@pytest.mark.parametrize("name", LOCAL)
def test_builtin_shapes_and_labels(name: str) -> None:
    spec = _spec(name)
    info = dataset_info(spec)
    splits = load_splits(spec, seed=0)
    assert splits.info == info and not info.needs_download
    _check(splits)
    assert len(splits.x_train) + len(splits.x_val) + len(splits.x_test) == info.size
    if info.task == "classification":
        assert len(info.class_names) == info.num_outputs
        assert set(np.unique(splits.y_train[splits.y_train >= 0])) == set(range(info.num_outputs))
    else:
        assert info.class_names == ()


def test_catalogue_is_as_documented() -> None:
    documented = "moons spirals sine digits diabetes iris wine breast_cancer mnist fashion-mnist"
    assert set(builtin_names()) == {*documented.split(), "cifar10", "addition", "chars"}
    assert dataset_info(DataSpec("sine")).input_shape == (40, 1)
    assert dataset_info(DataSpec("moons")).size == 2000
    assert dataset_info(DataSpec("moons", samples=123)).size == 123
    assert dataset_info(DataSpec("digits")).input_shape == (8, 8, 1)
    assert dataset_info(DataSpec("cifar10")).input_shape == (32, 32, 3)


def test_digits_are_images_in_unit_range() -> None:
    s = load_splits(DataSpec("digits"), seed=0)
    assert s.x_train.min() >= 0.0 and s.x_train.max() <= 1.0 and s.x_train.max() > 0.9


def test_splits_are_deterministic_and_seeded() -> None:
    a, b = load_splits(_spec("moons"), 7), load_splits(_spec("moons"), 7)
    c = load_splits(_spec("moons"), 8)
    for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.x_train, c.x_train)


def test_fractions_and_empty_test_split() -> None:
    s = load_splits(DataSpec("iris", val_fraction=0.2, test_fraction=0.0), seed=0)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (120, 30, 0)
    assert s.x_test.shape == (0, 4) and s.y_test.shape == (0,) and s.y_test.dtype == np.int64
    r = load_splits(DataSpec("diabetes", test_fraction=0.0), seed=0)
    assert r.x_test.shape == (0, 10) and r.y_test.shape == (0, 1)
    with pytest.raises(UserError, match="no training samples"):
        load_splits(DataSpec("iris", val_fraction=0.5, test_fraction=0.5), seed=0)


def test_standardization_uses_train_statistics() -> None:
    s = load_splits(DataSpec("diabetes"), seed=0)
    np.testing.assert_allclose(s.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(s.x_train.std(0), 1, atol=1e-4)
    np.testing.assert_allclose(s.y_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(s.y_train.std(0), 1, atol=1e-4)
    assert abs(float(s.y_val.mean())) > 1e-4  # val is scaled by train stats, not its own


def test_statistics_are_carried_saved_and_used_exactly(tmp_path: Path) -> None:
    """The splits carry the train split's statistics (per feature, per target column); saved
    and read back they standardize the data bit for bit as a fresh load does; statistics
    given at load are used instead of the data's own, so a run never recomputes them."""
    from sklearn.datasets import load_diabetes

    s = load_splits(DataSpec("diabetes"), seed=0)
    raw_x, raw_y = load_diabetes(return_X_y=True)
    p = s.preprocessing
    assert p.inputs is not None and p.targets is not None
    assert len(p.inputs.mean) == 10 and len(p.targets.mean) == 1
    # Undone, the standardized splits are the raw data again, in the data's units.
    restored_y = np.concatenate([p.targets.restore(y) for y in (s.y_train, s.y_val, s.y_test)])
    np.testing.assert_allclose(np.sort(restored_y[:, 0]), np.sort(raw_y), rtol=1e-5)
    restored_x = np.concatenate([p.inputs.restore(x) for x in (s.x_train, s.x_val, s.x_test)])
    np.testing.assert_allclose(np.sort(restored_x, 0), np.sort(raw_x, 0), atol=1e-6)
    path = tmp_path / "preprocessing.json"
    preprocessing.write(path, p)
    assert preprocessing.read(path) == p
    again = load_splits(DataSpec("diabetes"), seed=0, saved=preprocessing.read(path))
    for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, key), getattr(s, key))
    shifted = preprocessing.Preprocessing(
        p.inputs, preprocessing.Scaling((p.targets.mean[0] + 10.0,), p.targets.std)
    )
    other = load_splits(DataSpec("diabetes"), seed=0, saved=shifted)
    np.testing.assert_allclose(other.y_train, s.y_train - 10.0 / p.targets.std[0], atol=1e-5)
    assert preprocessing.read(tmp_path / "absent.json") is None  # a run from before


def test_images_and_labels_are_not_standardized() -> None:
    assert load_splits(DataSpec("digits"), seed=0).preprocessing == preprocessing.Preprocessing(
        None, None
    )
    sine = load_splits(DataSpec("sine"), seed=0).preprocessing  # sequences: per feature
    assert sine.inputs is not None and len(sine.inputs.mean) == 1 and sine.targets is not None


def test_saved_statistics_that_do_not_fit_are_one_line_errors(tmp_path: Path) -> None:
    three = preprocessing.Scaling((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    with pytest.raises(UserError, match="saved input statistics have 3 columns, the data has 10"):
        load_splits(DataSpec("diabetes"), 0, saved=preprocessing.Preprocessing(three, None))
    path = tmp_path / "preprocessing.json"
    for text in ("{", '{"inputs": null}', '{"inputs": {"mean": [1], "std": [0]}, "targets": null}'):
        path.write_text(text)
        with pytest.raises(UserError, match=r"preprocessing\.json: ") as err:
            preprocessing.read(path)
        assert "\n" not in str(err.value)


def test_sine_is_predictable() -> None:
    """A linear fit on the window already cuts the MSE well below a tenth of the variance."""
    s = load_splits(DataSpec("sine"), seed=0)
    a, *_ = np.linalg.lstsq(s.x_train[:, :, 0], s.y_train, rcond=None)
    assert float(((s.x_val[:, :, 0] @ a - s.y_val) ** 2).mean()) < 0.05


def test_unknown_name_missing_file_and_task_mismatch(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"unknown dataset 'mnits'.*moons.*\.csv") as exc:
        dataset_info(DataSpec("mnits"))
    assert "\n" not in str(exc.value)
    with pytest.raises(UserError, match="not found"):
        dataset_info(DataSpec(str(tmp_path / "nope.csv")))
    (tmp_path / "a.json").write_text("x")
    with pytest.raises(UserError, match="unsupported"):
        dataset_info(DataSpec(str(tmp_path / "a.json")))
    with pytest.raises(UserError, match="classification"):
        dataset_info(DataSpec("digits"), task="regression")


CSV = "a,b,colour\n1,2.5,red\n2,0.5,blue\n3,1.5,red\n4,3.5,green\n5,4.5,blue\n6,2,red\n"


def test_csv_string_labels_and_target_selection(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    info = dataset_info(DataSpec(str(path)), task="classification")
    assert info.class_names == ("blue", "green", "red") and info.input_shape == (2,)
    s = load_splits(DataSpec(str(path), val_fraction=0.0, test_fraction=0.0), seed=0)
    _check(s)
    assert s.info.task == "classification" and sorted(s.y_train) == [0, 0, 1, 2, 2, 2]
    path.write_text(CSV.replace("red", "1").replace("blue", "2").replace("green", "3"))
    r = load_splits(DataSpec(str(path), target="b", test_fraction=0.0), 0, task="regression")
    _check(r)
    assert r.info.input_shape == (2,) and r.info.num_outputs == 1 and r.info.task == "regression"


def test_csv_cells_and_names_are_trimmed_and_a_bom_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbfa , b,colour\n1, 2.5, red\n\n2,0.5 ,blue \n3,1,red\n")
    info, x, y = data.user_data(DataSpec(str(path), target="colour"), None)
    assert info.class_names == ("blue", "red") and info.input_shape == (2,)
    np.testing.assert_array_equal(x, [[1, 2.5], [2, 0.5], [3, 1]])
    np.testing.assert_array_equal(y, [1, 0, 1])


@pytest.mark.parametrize(
    ("content", "target", "task", "message"),
    [
        (b"", None, None, "needs a header row and at least one row of data"),
        (b"\n\n", None, None, "needs a header row and at least one row of data"),
        (b"a,b\n", None, None, "needs a header row and at least one row of data"),
        (CSV.encode(), "label", None, "no column 'label'; columns: a, b, colour"),
        (
            CSV.encode(),
            "a",
            None,
            "feature column 'colour' is not numeric ('red' in row 2); use numbers, or make it "
            "the target",
        ),
        (b"a,b\n1,2\n2,NA\n", "a", None, "feature column 'b' is not numeric ('NA' in row 3)"),
        (CSV.encode(), None, "regression", "regression needs a numeric target"),
        (b"a,b\n1,2\n3\n", None, None, "row 3 has 1 fields; the header has 2"),
        (b"a,b\n1,2\n3,4,5\n", None, None, "row 3 has 3 fields; the header has 2"),
        (b"a,b\n1,2\n,4\n", None, None, "column 'a' has an empty cell in row 3"),
        (b"a,b\n1,2\n3,\n", None, None, "column 'b' has an empty cell in row 3"),
        (b"a,b\n1,2\n", "a,b", None, "no feature columns besides the target"),
        (CSV.encode(), "a,colour", None, "several target columns need numbers (regression)"),
        (b"a,b\n1,\xff\n", None, None, "cannot read it"),
    ],
)
def test_csv_errors(
    tmp_path: Path, content: bytes, target: str | None, task: str | None, message: str
) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    with pytest.raises(UserError) as exc:
        dataset_info(DataSpec(str(path), target=target), task=task)  # type: ignore[arg-type]
    text = str(exc.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def _parquet(path: Path, columns: dict[str, list[object]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


def test_parquet_reads_like_the_same_csv(tmp_path: Path) -> None:
    numbers = "a,b\n" + "".join(f"{i},{i * i / 4}\n" for i in range(10))
    texts = {"a": [1, 2, 3, 4, 5, 6], "b": [2.5, 0.5, 1.5, 3.5, 4.5, 2.0]}
    texts["colour"] = ["red", "blue", "red", "green", "blue", "red"]
    cases = [
        (CSV, texts, None, "classification"),
        (numbers, {"a": list(range(10)), "b": [i * i / 4 for i in range(10)]}, "b", "regression"),
    ]
    for text, columns, target, task in cases:
        (tmp_path / "d.csv").write_text(text)
        _parquet(tmp_path / "d.parquet", columns)
        csv = load_splits(DataSpec(str(tmp_path / "d.csv"), target=target), seed=3)
        parquet = load_splits(DataSpec(str(tmp_path / "d.parquet"), target=target), seed=3)
        _check(parquet)
        assert parquet.info.task == task and parquet.info.class_names == csv.info.class_names
        assert parquet.info.description == f"Parquet file, {len(columns['a'])} samples"
        for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            np.testing.assert_array_equal(getattr(parquet, part), getattr(csv, part))


@pytest.mark.parametrize(
    ("columns", "target", "message"),
    [
        ({"a": [], "b": []}, None, "holds no rows of data"),
        ({"a": [1, 2], "b": [3, 4]}, "label", "no column 'label'; columns: a, b"),
        ({"a": ["1", "x"], "b": [3, 4]}, None, "feature column 'a' is not numeric ('x' in row 2)"),
        ({"a": [1.0, None], "b": [3, 4]}, None, "column 'a' has an empty cell in row 2"),
    ],
)
def test_parquet_errors(
    tmp_path: Path, columns: dict[str, list[object]], target: str | None, message: str
) -> None:
    path = tmp_path / "d.parquet"
    _parquet(path, columns)
    with pytest.raises(UserError) as exc:
        dataset_info(DataSpec(str(path), target=target))
    text = str(exc.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(UserError, match=r"cannot read it"):
        dataset_info(DataSpec(str(path)))


def test_npz(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(40, 3, 5)), y=rng.integers(0, 4, 40))
    s = load_splits(DataSpec(str(path)), seed=1)
    _check(s)
    assert s.info.input_shape == (3, 5) and s.info.num_outputs == 4
    np.savez(path, x=rng.integers(0, 50, (30, 7)), y=rng.normal(size=30))
    r = load_splits(DataSpec(str(path)), seed=1)
    _check(r)
    assert r.info.task == "regression" and r.info.input_dtype == "int64"
    np.savez(path, x=np.zeros((4, 2)), target=np.zeros(4))
    with pytest.raises(UserError, match=r"no array 'y'; arrays found: x, target"):
        dataset_info(DataSpec(str(path)))
    path.write_bytes(b"not a zip file")
    with pytest.raises(UserError, match="cannot read"):
        dataset_info(DataSpec(str(path)))


def test_image_folder(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    for name, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (tmp_path / name).mkdir()
        for i in range(3):
            image.new("RGB", (6, 4), colour).save(tmp_path / name / f"{i}.png")
    s = load_splits(DataSpec(str(tmp_path), val_fraction=0.0, test_fraction=0.0), seed=0)
    _check(s)
    assert s.info.input_shape == (4, 6, 3) and s.info.class_names == ("cat", "dog")
    assert s.x_train.min() == 0.0 and s.x_train.max() == 1.0
    image.new("L", (9, 9), 128).save(tmp_path / "dog" / "odd.png")
    assert dataset_info(DataSpec(str(tmp_path))).input_shape == (32, 32, 3)
    gray = tmp_path / "gray"
    for name in ("a", "b"):
        (gray / name).mkdir(parents=True)
        image.new("L", (5, 5), 10).save(gray / name / "0.png")
        image.new("L", (5, 5), 20).save(gray / name / "1.png")
    assert dataset_info(DataSpec(str(gray))).input_shape == (5, 5, 1)


# --- downloads: never touch the network ---------------------------------------------------


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Keras cache, and a urlopen that fails like a machine with no network."""

    def refuse(*_a: object, **_k: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return tmp_path / "keras" / "datasets"


def test_cache_dir_honours_keras_home(offline: Path) -> None:
    assert cache_dir() == offline


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_offline_message_names_file_url_and_path(offline: Path, name: str) -> None:
    assert dataset_info(DataSpec(name)).needs_download
    with pytest.raises(UserError) as exc:
        load_splits(DataSpec(name), seed=0)
    msg = str(exc.value)
    assert "\n" not in msg and "no network" in msg and "https://" in msg
    assert str(offline) in msg
    assert not [p for p in offline.rglob("*") if p.is_file()]  # no half files left behind


def _mnist_arrays(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        "y_train": np.arange(n, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, (n // 2, 28, 28), dtype=np.uint8),
        "y_test": np.arange(n // 2, dtype=np.uint8) % 10,
    }


def test_mnist_cache_hit(offline: Path) -> None:
    offline.mkdir(parents=True)
    np.savez(offline / "mnist.npz", **_mnist_arrays(20))
    assert not dataset_info(DataSpec("mnist")).needs_download
    s = load_splits(DataSpec("mnist"), seed=0)
    _check(s)
    assert len(s.x_train) + len(s.x_val) + len(s.x_test) == 30 and s.x_train.max() <= 1.0


def test_fashion_mnist_cache_hit(offline: Path) -> None:
    folder = offline / "fashion-mnist"
    folder.mkdir(parents=True)
    arrays = _mnist_arrays(20)
    for prefix, part in (("train", "train"), ("t10k", "test")):
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(bytes(16) + arrays[f"x_{part}"].tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(bytes(8) + arrays[f"y_{part}"].tobytes())
    s = load_splits(DataSpec("fashion-mnist"), seed=0)
    _check(s)
    assert s.info.input_shape == (28, 28, 1) and len(s.x_train) + len(s.x_val) + len(s.x_test) == 30


def test_download_writes_the_file_atomically(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **_mnist_arrays(10))
    monkeypatch.setattr(data, "_MNIST_SHA256", "")  # a fake file, not the real one
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(buffer.getvalue()))
    s = load_splits(DataSpec("mnist"), seed=0)
    assert len(s.x_train) + len(s.x_val) + len(s.x_test) == 15
    assert [p.name for p in offline.iterdir()] == ["mnist.npz"]


def _write_cifar(folder: Path, batch: object) -> None:
    folder.mkdir(parents=True)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        (folder / name).write_bytes(pickle.dumps(batch))


@pytest.mark.parametrize("as_archive", [False, True])
def test_cifar_cache_hit(offline: Path, tmp_path: Path, as_archive: bool) -> None:
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 9]}
    if as_archive:  # the downloaded .tar.gz is in the cache but not yet extracted
        _write_cifar(tmp_path / "src" / "cifar-10-batches-py", batch)
        offline.mkdir(parents=True)
        with tarfile.open(offline / "cifar-10-batches-py.tar.gz", "w:gz") as tar:
            tar.add(tmp_path / "src" / "cifar-10-batches-py", "cifar-10-batches-py")
    else:
        _write_cifar(offline / "cifar-10-batches-py", batch)
    s = load_splits(DataSpec("cifar10"), seed=0)
    _check(s)
    assert len(s.x_train) + len(s.x_val) + len(s.x_test) == 24


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def test_restricted_unpickler_refuses_code(offline: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _write_cifar(offline / "cifar-10-batches-py", {b"data": _Evil(marker), b"labels": [0]})
    with pytest.raises(UserError, match=r"refusing to unpickle \w+\.open"):
        load_splits(DataSpec("cifar10"), seed=0)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        data.RestrictedUnpickler(io.BytesIO(pickle.dumps(_Evil(marker)))).load()
    assert not marker.exists()


def test_import_pulls_in_no_framework() -> None:
    code = (
        "import sys, tuitrain.core.data\n"
        "heavy = {'torch', 'tensorflow', 'keras', 'textual', 'sklearn', 'PIL', 'pyarrow'}\n"
        "heavy &= set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


def test_every_catalogue_entry_has_a_loader() -> None:
    assert [*data.LOADERS, *data.GENERATORS] == list(datasets.BUILTIN)


def test_the_catalogue_loads_without_numpy() -> None:
    """The setup screen reads the catalogue before its first frame; numpy is not needed."""
    code = (
        "import sys; from tuitrain.core.datainfo import dataset_info; "
        "from tuitrain.core.datasets import builtin_names; "
        "from tuitrain.core.spec import DataSpec; "
        "infos = [dataset_info(DataSpec(n)) for n in builtin_names()]; "
        "assert 'numpy' not in sys.modules, 'numpy imported'; print(len(infos))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(len(datasets.BUILTIN))
