"""The dataset loaders (the catalogue of what each set is lives in `core/datasets.py`).

Built-in sets (synthetic ones made here, small ones bundled with scikit-learn), the public sets
Keras downloads (same files, same `~/.keras/datasets` cache), and a person's own CSV, Parquet
and NPZ files and image folders all come back the same way: numpy arrays split
deterministically from a seed.

Only numpy is imported at module level; scikit-learn, pyarrow (CSV and Parquet), Pillow and
the download machinery load when a dataset needs them, and no ML framework is ever imported here.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tuitrain.core import text
from tuitrain.core.augment import Augment
from tuitrain.core.catalog import Task
from tuitrain.core.datasets import (
    ADDITION_DIGITS,
    CIFAR_DIR,
    FASHION_FILES,
    SINE_STEPS,
    DatasetInfo,
    builtin_info,
    builtin_names,
    cache_dir,
    cifar_folder,
    entry_of,
)
from tuitrain.core.errors import UserError, choices_error
from tuitrain.core.preprocessing import Preprocessing, Scaling
from tuitrain.core.sources import ArraySource, Streams
from tuitrain.core.spec import DataSpec
from tuitrain.core.text import IMAGE_SUFFIXES, TEXT_SUFFIXES, Vocabulary

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Splits:
    """Train, validation and test arrays, with the dataset they came from and the
    standardization they went through."""

    info: DatasetInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    preprocessing: Preprocessing
    # Set when the data streams (core/sources.py): the splits come from it, and the arrays
    # above hold no samples.
    streams: Streams | None = None

    @property
    def sizes(self) -> tuple[int, int, int]:
        """Samples in train, validation and test."""
        if self.streams is not None:
            return self.streams.sizes
        return len(self.x_train), len(self.x_val), len(self.x_test)


Arrays = tuple[np.ndarray, np.ndarray]


# Synthetic sets are fixed data; the run's seed only shuffles and splits them.
_DATA_SEED = 20240601
_KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


# --- built-in data -------------------------------------------------------------------------


def _moons(n: int) -> Arrays:
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n, noise=0.2, random_state=_DATA_SEED)


def _spirals(n: int) -> Arrays:
    """Three interleaved spiral arms with angular noise (the CS231n toy set)."""
    rng = np.random.default_rng(_DATA_SEED)
    y = np.arange(n) % 3
    radius = rng.uniform(0.0, 1.0, n)
    theta = y * (2 * np.pi / 3) + 4.0 * radius + rng.normal(0.0, 0.2, n)
    return np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=1), y


def _sine(n: int) -> Arrays:
    """Windows of a noisy sum of two sines (random frequency and phase); target: next value."""
    rng = np.random.default_rng(_DATA_SEED)
    t = np.arange(SINE_STEPS + 1)
    freq = rng.uniform([0.1, 0.3], [0.3, 0.6], (n, 2))[..., None]
    phase = rng.uniform(0.0, 2 * np.pi, (n, 2))[..., None]
    amp = np.array([1.0, 0.5])[None, :, None]
    signal = (amp * np.sin(freq * t + phase)).sum(axis=1)
    signal += rng.normal(0.0, 0.03, signal.shape)
    return signal[:, :SINE_STEPS, None], signal[:, SINE_STEPS:]


def _digits(_n: int) -> Arrays:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images[..., None] / 16.0, bunch.target


def _sklearn(name: str) -> Callable[[int], Arrays]:
    def load(_n: int) -> Arrays:
        import sklearn.datasets

        return getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)

    return load


def _digits_of(values: np.ndarray, count: int) -> np.ndarray:
    """Each value's `count` decimal digits, highest first (zero-padded): shape (N, count)."""
    return values[:, None] // 10 ** np.arange(count - 1, -1, -1) % 10


def _addition(data: DataSpec, n: int) -> Arrays:
    """`n` distinct problems a + b of `digits`-digit numbers, drawn with the data seed, laid out
    as minGPT's adder does: the tokens of a, of b, then of the sum reversed (lowest digit
    first, so that each digit's carry comes from digits already written), the last token left
    out. The target at each position is the next token, -1 while that is still the question:
    a decoder reads the whole problem and writes the digits + 1 answer tokens."""
    digits = ADDITION_DIGITS if data.digits is None else data.digits
    rng = np.random.default_rng(_DATA_SEED if data.seed is None else data.seed)
    a, b = np.divmod(rng.choice(10 ** (2 * digits), size=n, replace=False), 10**digits)
    answer = _digits_of(a + b, digits + 1)[:, ::-1]
    tokens = np.concatenate([_digits_of(a, digits), _digits_of(b, digits), answer], axis=1)
    targets = tokens[:, 1:].copy()
    targets[:, : 2 * digits - 1] = -1
    return tokens[:, :-1], targets


def _char_ids(chars: str, alphabet: str) -> np.ndarray:
    """Token ids of `chars`: each character's index in `alphabet` (sorted by code point)."""
    codes = np.frombuffer(chars.encode("utf-32-le"), np.uint32)
    return np.searchsorted(np.frombuffer(alphabet.encode("utf-32-le"), np.uint32), codes)


def _chars(data: DataSpec, n: int) -> Arrays:
    """The corpus's `n` contiguous windows of `block_size` characters as token ids (the
    vocabulary's indexes), and at each position the next character: every position labelled,
    as a language model is trained."""
    corpus = text.corpus(data)
    ids = _char_ids(corpus.text, corpus.alphabet).astype(np.int64)
    block = corpus.block_size
    return ids[: n * block].reshape(n, block), ids[1 : n * block + 1].reshape(n, block)


# --- downloads (Keras's files and cache layout) ----------------------------------------------


def _one_line(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split()) or type(exc).__name__


@contextmanager
def _reading(path: Path, hint: str = "") -> Iterator[None]:
    """Turn any failure while parsing `path` into a one-line UserError."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{path}: cannot read it ({_one_line(exc)}){hint}") from None


def _download(url: str, dest: Path, sha256: str = "") -> None:
    """Fetch `url` into `dest` through a temp file, so `dest` is never a partial file."""
    import http.client
    import urllib.request

    tmp: str | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
            out.flush()
            os.fsync(out.fileno())
        if sha256 and digest.hexdigest() != sha256:
            raise OSError("the file's checksum does not match")
        os.replace(tmp, dest)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise UserError(
            f"could not download {url} ({_one_line(exc)}); download it yourself and save it "
            f"as {dest}"
        ) from None


def _fetch(url: str, dest: Path, sha256: str = "") -> Path:
    """The cached file at `dest`, downloading it first if it is not there."""
    if not dest.is_file():
        _download(url, dest, sha256)
    return dest


def _pixels(x: np.ndarray) -> np.ndarray:
    """8-bit pixels as float32 in [0, 1]."""
    return x.astype(np.float32) / 255


def _mnist(_n: int) -> Arrays:
    path = _fetch(_KERAS_URL + "mnist.npz", cache_dir() / "mnist.npz", _MNIST_SHA256)
    with _reading(path, "; delete it to download it again"), np.load(path, allow_pickle=False) as f:
        x = np.concatenate([f["x_train"], f["x_test"]])
        y = np.concatenate([f["y_train"], f["y_test"]])
    return _pixels(x[..., None]), y


def _idx_gz(path: Path, offset: int) -> np.ndarray:
    with _reading(path, "; delete it to download it again"), gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def _fashion_mnist(_n: int) -> Arrays:
    folder = cache_dir() / "fashion-mnist"
    x_tr, y_tr, x_te, y_te = (_fetch(_KERAS_URL + f, folder / f) for f in FASHION_FILES)
    y = np.concatenate([_idx_gz(y_tr, 8), _idx_gz(y_te, 8)])
    with _reading(folder, "; delete it to download it again"):
        x = np.concatenate([_idx_gz(x_tr, 16), _idx_gz(x_te, 16)]).reshape(len(y), 28, 28, 1)
    return _pixels(x), y


def _numpy_globals() -> dict[tuple[str, str], object]:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    }


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles builtin containers and numpy arrays; refuses every other global, so a
    tampered file cannot run code."""

    def find_class(self, module: str, name: str) -> object:
        """Resolve only the globals numpy arrays need; refuse everything else."""
        allowed = _numpy_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _untar_cifar(archive: Path) -> Path:
    """Extract the CIFAR archive next to itself (only plain files and folders)."""
    import tarfile

    root = archive.parent
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".extract-"))
    try:
        with _reading(archive, "; delete it to download it again"), tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in m.name:
                    raise UserError(f"{archive}: refusing to extract {m.name!r}")
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **safe)
            shutil.rmtree(root / CIFAR_DIR, ignore_errors=True)  # a partial earlier copy
            os.replace(tmp / CIFAR_DIR, root / CIFAR_DIR)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root / CIFAR_DIR


def _cifar10(_n: int) -> Arrays:
    folder = cifar_folder()
    if folder is None:
        archive = cache_dir() / f"{CIFAR_DIR}.tar.gz"
        folder = _untar_cifar(_fetch(_CIFAR_URL, archive, _CIFAR_SHA256))
    xs, ys = [], []
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        path = folder / name
        with _reading(path, f"; delete {folder} to download it again"), open(path, "rb") as f:
            batch = RestrictedUnpickler(f, encoding="bytes").load()
            xs.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[b"labels"], np.int64))
    return _pixels(np.concatenate(xs).transpose(0, 2, 3, 1)), np.concatenate(ys)


# Each built-in dataset's arrays: sample count -> x (float32, scaled), y (labels or targets).
LOADERS: dict[str, Callable[[int], Arrays]] = {
    "moons": _moons, "spirals": _spirals, "sine": _sine, "digits": _digits,
    "diabetes": _sklearn("diabetes"), "iris": _sklearn("iris"), "wine": _sklearn("wine"),
    "breast_cancer": _sklearn("breast_cancer"), "mnist": _mnist,
    "fashion-mnist": _fashion_mnist, "cifar10": _cifar10,
}  # fmt: skip
# Each generated task's (and text's) arrays: [data] settings and sample count -> x, y.
GENERATORS: dict[str, Callable[[DataSpec, int], Arrays]] = {"addition": _addition, "chars": _chars}


# --- a person's own data -------------------------------------------------------------------


def _numbers(column: pa.ChunkedArray) -> np.ndarray | None:
    """A numeric column as numpy (int64 or float64), or None when it is not numeric."""
    import pyarrow as pa

    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return column.to_numpy()
    if pa.types.is_decimal(column.type):
        return column.cast(pa.float64(), safe=False).to_numpy()
    return None


def _texts(column: pa.ChunkedArray) -> list[str]:
    """Any column's cells as text, without surrounding whitespace."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.utf8_trim_whitespace(column.cast(pa.string())).to_pylist()


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


def _read_table(
    path: Path, table: pa.Table, target: str | None, first_row: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """Numeric feature columns and the target column(s) of a table read from `path`; row
    numbers in errors count from `first_row` (2 for a CSV file, whose header is row 1)."""
    header = [name.strip() for name in table.column_names]
    table = table.rename_columns(header)
    wanted = [t.strip() for t in target.split(",")] if target else [header[-1]]
    for name in wanted:
        if name not in header:
            raise UserError(f"{path}: no column {name!r}; columns: {', '.join(header)}")
    for name in header:
        column = table.column(name)
        if column.null_count:
            row = first_row + column.is_null().to_pylist().index(True)
            raise UserError(
                f"{path}: column {name!r} has an empty cell in row {row}; fill it in or "
                "remove the row"
            )
    features = []
    for name in header:
        if name in wanted:
            continue
        values = _numbers(table.column(name))
        if values is None:
            cells = _texts(table.column(name))
            row, bad = next((i, c) for i, c in enumerate(cells) if _not_a_number(c))
            raise UserError(
                f"{path}: feature column {name!r} is not numeric ({bad!r} in row "
                f"{first_row + row}); use numbers, or make it the target"
            )
        features.append(values.astype(np.float32))
    if not features:
        raise UserError(f"{path}: no feature columns besides the target")
    targets = [_numbers(table.column(n)) for n in wanted]
    if len(wanted) == 1:
        y = targets[0] if targets[0] is not None else np.array(_texts(table.column(wanted[0])))
    elif any(t is None for t in targets):
        raise UserError(f"{path}: several target columns need numbers (regression)")
    else:
        y = np.stack(targets, axis=1)
    return np.stack(features, axis=1), y, f"column {', '.join(wanted)!r}"


def _read_csv(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """A CSV file with a header row. Blank lines are skipped; row numbers count records (the
    header is row 1), as a spreadsheet shows them. One thread, so that the first ragged row
    is the one reported."""
    import pyarrow as pa
    import pyarrow.csv

    ragged: list[pyarrow.csv.InvalidRow] = []

    def refuse(row: pyarrow.csv.InvalidRow) -> str:
        ragged.append(row)
        return "error"

    needs_rows = f"{path}: needs a header row and at least one row of data"
    with _reading(path):
        try:
            table = pyarrow.csv.read_csv(
                path,
                read_options=pyarrow.csv.ReadOptions(use_threads=False),
                parse_options=pyarrow.csv.ParseOptions(invalid_row_handler=refuse),
                convert_options=pyarrow.csv.ConvertOptions(null_values=[""]),
            )
        except pa.ArrowInvalid as exc:
            if ragged:
                row = ragged[0]
                raise UserError(
                    f"{path}: row {row.number} has {row.actual_columns} fields; the header "
                    f"has {row.expected_columns}"
                ) from None
            if "Empty CSV" in str(exc):  # no bytes, or blank lines only
                raise UserError(needs_rows) from None
            raise
    if table.num_rows == 0:
        raise UserError(needs_rows)
    with _reading(path):  # e.g. a text column that is not UTF-8
        return _read_table(path, table, target, first_row=2)


def _read_parquet(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """A Parquet file's columns (row numbers in errors count from 1)."""
    import pyarrow.parquet

    with _reading(path):
        table = pyarrow.parquet.read_table(path)
    if table.num_rows == 0:
        raise UserError(f"{path}: holds no rows of data")
    with _reading(path):
        return _read_table(path, table, target, first_row=1)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Arrays `x` and `y` of an .npz file (never unpickling anything)."""
    with _reading(path), np.load(path, allow_pickle=False) as arrays:
        for key in ("x", "y"):
            if key not in arrays.files:
                found = ", ".join(arrays.files) or "none"
                raise UserError(f"{path}: no array {key!r}; arrays found: {found}")
        return arrays["x"], arrays["y"], "array 'y'"


def _read_images(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """An image folder: one subfolder per class; a common size (else 32x32), gray or RGB."""
    try:
        from PIL import Image
    except ImportError:
        raise UserError("reading an image folder needs Pillow: pip install pillow") from None
    files = [
        (f, d.name)
        for d in sorted(path.iterdir())
        if d.is_dir() and not d.name.startswith(".")
        for f in sorted(d.iterdir())
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise UserError(
            f"{path}: no images found; an image folder needs one subfolder per "
            f"class holding {', '.join(IMAGE_SUFFIXES)} files"
        )
    heads = []
    for f, _ in files:
        with _reading(f), Image.open(f) as im:
            heads.append((im.size, im.mode))
    size = heads[0][0] if len({s for s, _ in heads}) == 1 else (32, 32)
    mode = "L" if all(m in _GRAY_MODES for _, m in heads) else "RGB"
    pixels = []
    for f, _ in files:
        with _reading(f), Image.open(f) as im:
            im = im.convert(mode)
            im = im if im.size == size else im.resize(size, Image.Resampling.BILINEAR)
            pixels.append(np.asarray(im, dtype=np.float32) / 255)
    x = np.stack(pixels)
    return (x[..., None] if mode == "L" else x), np.array([c for _, c in files]), "class"


def _label_names(values: np.ndarray) -> tuple[str, ...]:
    return tuple(
        str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values.tolist()
    )


def _prepare(
    name: str, x: np.ndarray, y: np.ndarray, task: Task | None, what: str, kind: str
) -> tuple[DatasetInfo, np.ndarray, np.ndarray]:
    """Check and convert user arrays to the conventions; infer the task if not given."""
    if x.ndim == 1:
        x = x[:, None]
    if len(x) != len(y) or len(x) == 0:
        raise UserError(f"{name}: x has {len(x)} samples and y has {len(y)}; they must match")
    if x.dtype == np.uint8:  # pixels
        x, input_dtype = _pixels(x), "float32"
    elif x.dtype.kind in "iu":  # token ids
        x, input_dtype = x.astype(np.int64), "int64"
    elif x.dtype.kind in "fb":
        x, input_dtype = x.astype(np.float32), "float32"
    else:
        raise UserError(f"{name}: inputs must be numbers, not {x.dtype}")
    if input_dtype == "float32" and not np.isfinite(x).all():
        raise UserError(f"{name}: inputs contain NaN or infinite values")
    numeric = y.dtype.kind in "iufb"
    task = task or ("regression" if y.dtype.kind == "f" else "classification")
    if task == "regression":
        if not numeric:
            raise UserError(f"{name}: regression needs a numeric target, but {what} holds text")
        y = y.reshape(len(y), -1).astype(np.float32)
        if not np.isfinite(y).all():
            raise UserError(f"{name}: {what} contains NaN or infinite values")
        outputs, classes = y.shape[1], ()
    else:
        if y.ndim > 1 and y.size != len(y):
            raise UserError(
                f"{name}: classification needs one label per sample; {what} has shape {y.shape}"
            )
        values, y = np.unique(y.reshape(-1), return_inverse=True)
        classes = _label_names(values)
        outputs = len(classes)
    info = DatasetInfo(
        name, task, tuple(x.shape[1:]), outputs, classes, input_dtype, False,
        f"{kind}, {len(x)} samples", len(x),
    )  # fmt: skip
    return info, x, y.astype(np.int64 if task == "classification" else np.float32)


@lru_cache(maxsize=1)
def _read_user(
    path: Path, _stamp: int, target: str | None, task: Task | None
) -> tuple[DatasetInfo, np.ndarray, np.ndarray]:
    if path.is_dir():
        x, y, what = _read_images(path)
        kind = "image folder"
    elif path.suffix.lower() == ".csv":
        x, y, what = _read_csv(path, target)
        kind = "CSV file"
    elif path.suffix.lower() == ".parquet":
        x, y, what = _read_parquet(path, target)
        kind = "Parquet file"
    elif path.suffix.lower() == ".npz":
        x, y, what = _read_npz(path)
        kind = "NPZ file"
    else:
        raise UserError(
            f"{path}: unsupported data file; use a .csv, .parquet or .npz file, an image folder, "
            f"or text ({', '.join(TEXT_SUFFIXES)} files)"
        )
    return _prepare(str(path), x, y, task, what, kind)


def user_data(data: DataSpec, task: Task | None) -> tuple[DatasetInfo, np.ndarray, np.ndarray]:
    path = Path(data.dataset).expanduser()
    if not path.exists():
        if path.suffix or any(c in data.dataset for c in ("/", os.sep, "~")):
            raise UserError(f"data file not found: {path}")
        raise UserError(
            f"{choices_error('dataset', data.dataset, builtin_names())}; or give "
            "a path to a .csv, .parquet or .npz file, an image folder or a text file"
        )
    return _read_user(path, _stamp(path), data.target, task)


def _stamp(path: Path) -> int:
    """Changes when the file (or any file of an image folder) changes; keys the read cache."""
    files = sorted(path.glob("*/*")) if path.is_dir() else [path]
    return hash(tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))


# --- the public entry points ---------------------------------------------------------------


def _count(n: int, fraction: float) -> int:
    return max(1, round(n * fraction)) if fraction > 0 else 0


def _scaling(given: Scaling | None, train: np.ndarray, what: str, name: str) -> Scaling:
    """`given` (saved statistics), checked against the data, else the train split's own."""
    if given is None:
        return Scaling.fit(train)
    if len(given.mean) != train.shape[-1]:
        raise UserError(
            f"{name}: the run's saved {what} statistics have {len(given.mean)} columns, the "
            f"data has {train.shape[-1]}; the data changed since the run started"
        )
    return given


def standardizes_inputs(info: DatasetInfo) -> bool:
    """Whether `load_splits` standardizes the inputs: float features of tabular or sequence
    shape (not images, not token ids)."""
    return info.input_dtype == "float32" and len(info.input_shape) <= 2


def _vocabulary(
    data: DataSpec, split_seed: int, counts: tuple[int, int, int], saved: Vocabulary | None
) -> Vocabulary:
    """The text's vocabulary and split, as the run records them; with the run's `saved` one,
    the text must be what the run was cut from (else its ids and windows would differ)."""
    corpus = text.corpus(data)
    vocabulary = Vocabulary(
        corpus.alphabet, corpus.block_size, corpus.source, corpus.sha256, split_seed, counts
    )
    if saved is not None and saved != vocabulary:
        raise UserError(
            f"{corpus.source}: not the text the run was trained on (its characters or "
            "windows differ from the run's preprocessing.json); restore that text or start "
            "a new run"
        )
    return vocabulary


def text_model_splits(vocabulary: Vocabulary, name: str) -> Splits:
    """Splits without samples, shaped as a text run's data: what a backend builds the run's
    model from where only the model is needed (sampling), without the text itself, which
    may have changed or stayed on another machine."""
    block, chars = vocabulary.block_size, vocabulary.chars
    info = DatasetInfo(
        name, "classification", (block,), len(chars), tuple(map(text.char_name, chars)),
        "int64", False, vocabulary.source, 0, (block,),
    )  # fmt: skip
    empty = np.zeros((0, block), np.int64)
    return Splits(info, *[empty] * 6, Preprocessing(None, None, vocabulary))


def load_splits(
    data: DataSpec, seed: int, task: Task | None = None, saved: Preprocessing | None = None
) -> Splits:
    """Load `data` and split it into train/val/test, the same way for the same seed (the
    data's own `seed` when it has one, else the run's `seed`).

    Float inputs of tabular or sequence shape are standardized per feature, and regression
    targets per column, with the `saved` statistics of the run, else the train split's own
    (which the result carries); image pixels are in [0, 1].
    """
    entry = entry_of(data)
    if entry is not None:
        info = builtin_info(entry, data, task)
        kind = entry.info.name
        if kind in GENERATORS:
            x, y = GENERATORS[kind](data, info.size)
        else:
            x, y = LOADERS[kind](info.size)
        info = replace(info, needs_download=False)
        x = np.asarray(x, info.input_dtype)
        y = np.asarray(y).reshape(len(y), -1) if info.task == "regression" else np.asarray(y)
    else:
        info, x, y = user_data(data, task)
    val, test = data.val_fraction, data.test_fraction
    n_test, n_val = _count(len(x), test), _count(len(x), val)
    if not (0 <= val < 1 and 0 <= test < 1) or n_test + n_val >= len(x):
        raise UserError(
            f"{info.name}: val_fraction {val} and test_fraction {test} leave no "
            f"training samples out of {len(x)}"
        )
    split_seed = seed if data.seed is None else data.seed
    order = np.random.default_rng(split_seed).permutation(len(x))
    test_idx, val_idx, train_idx = np.split(order, [n_test, n_test + n_val])
    xs = [x[i] for i in (train_idx, val_idx, test_idx)]
    ys = [y[i] for i in (train_idx, val_idx, test_idx)]
    inputs = targets = None
    if standardizes_inputs(info):
        inputs = _scaling(saved and saved.inputs, xs[0], "input", info.name)
        xs = [inputs.apply(part) for part in xs]
    if info.task == "regression":
        targets = _scaling(saved and saved.targets, ys[0], "target", info.name)
        ys = [targets.apply(part) for part in ys]
    else:
        ys = [part.astype(np.int64) for part in ys]
    vocabulary = None
    if entry is not None and entry.info.name == text.CHARS:
        counts = (len(train_idx), len(val_idx), len(test_idx))
        vocabulary = _vocabulary(data, split_seed, counts, saved and saved.vocabulary)
    preprocessing = Preprocessing(inputs, targets, vocabulary)
    augment = Augment.from_spec(data)
    if augment is not None:
        augment.check(info.input_shape, info.name)
        if data.stream == "never":
            raise UserError(
                f"{info.name}: data.augment is applied as the input pipeline streams the "
                'training images, which data.stream = "never" turns off; use "auto"'
            )
    if data.stream == "always" or augment is not None:
        sources = [ArraySource(xp, yp) for xp, yp in zip(xs, ys, strict=True)]
        streams = Streams(*sources, augment, seed, data_workers(data))
        empty_x, empty_y = xs[0][:0], ys[0][:0]
        return Splits(info, *[empty_x, empty_y] * 3, preprocessing, streams)
    return Splits(info, xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], preprocessing)


def data_workers(data: DataSpec) -> int:
    """Data-loading worker processes: `data.workers`, else one per core but one (the
    training process keeps a core), at most 4."""
    if data.workers is not None:
        return data.workers
    return min(4, max(0, (os.cpu_count() or 1) - 1))
