"""The dataset loaders (the catalogue of what each set is lives in `core/datasets.py`).

Built-in sets (synthetic ones made here, small ones bundled with scikit-learn), the public sets
Keras downloads (same files, same `~/.keras/datasets` cache), and a person's own CSV, Parquet,
NPY and NPZ files and image folders all come back the same way: split deterministically from
a seed (or as a run recorded its split), as numpy arrays, or, for data that streams
(`core/streaming.py`), as sources a framework's input pipeline reads a batch at a time.

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
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from tuitrain.core import image_folder, streaming, tables, text
from tuitrain.core.augment import Augment
from tuitrain.core.catalog import Task
from tuitrain.core.cores import cores, machine_cores
from tuitrain.core.datasets import (
    ADDITION_DIGITS,
    CIFAR_DIR,
    FASHION_FILES,
    OWN_DATA,
    SINE_STEPS,
    Builtin,
    DatasetInfo,
    builtin_info,
    builtin_names,
    cache_dir,
    cifar_folder,
    entry_of,
)
from tuitrain.core.errors import UserError, choices_error, one_line, reading
from tuitrain.core.preprocessing import Preprocessing, Scaling, saved_or_fit, standardizes_inputs
from tuitrain.core.sources import ArraySource, Streamable, Streams
from tuitrain.core.sources_arrays import NPY_KIND, Layout, TextWindows, check_lengths, labels_file
from tuitrain.core.spec import DataSpec
from tuitrain.core.split_index import SplitIndex
from tuitrain.core.streaming import TABLE_KINDS
from tuitrain.core.text import TEXT_SUFFIXES, Vocabulary


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
    # The data set's rows in each split (recorded in the run folder: core/split_index.py);
    # None for splits without data (`text_model_splits`).
    index: SplitIndex | None = None

    @property
    def sizes(self) -> tuple[int, int, int]:
        """Samples in train, validation and test."""
        if self.streams is not None:
            return self.streams.sizes
        return len(self.x_train), len(self.x_val), len(self.x_test)

    def size(self, name: str) -> int:
        """Samples in "train", "val" or "test"."""
        return self.sizes[("train", "val", "test").index(name)]

    def batches(self, name: str, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """x and y of "train", "val" or "test" in order, in batches of `batch_size` (the last
        one shorter), never augmented: slices of the arrays, or read from the streams."""
        if self.streams is not None:
            return self.streams.batches(name, batch_size)
        x, y = getattr(self, f"x_{name}"), getattr(self, f"y_{name}")
        return ((x[i : i + batch_size], y[i : i + batch_size])
                for i in range(0, len(x), batch_size))

    def example(self, count: int) -> np.ndarray:
        """The first `count` training inputs (what an export traces its program with)."""
        if self.streams is not None:
            return self.streams.train.get(np.arange(count, dtype=np.int64))[0]
        return self.x_train[:count]


Arrays = tuple[np.ndarray, np.ndarray]


# Synthetic sets are fixed data; the run's seed only shuffles and splits them.
_DATA_SEED = 20240601
_KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_TEXT_CHUNK = 1 << 22  # characters turned into token ids at a time when a text streams


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
            f"could not download {url} ({one_line(exc)}); download it yourself and save it "
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
    with reading(path, "; delete it to download it again"), np.load(path, allow_pickle=False) as f:
        x = np.concatenate([f["x_train"], f["x_test"]])
        y = np.concatenate([f["y_train"], f["y_test"]])
    return _pixels(x[..., None]), y


def _idx_gz(path: Path, offset: int) -> np.ndarray:
    with reading(path, "; delete it to download it again"), gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def _fashion_mnist(_n: int) -> Arrays:
    folder = cache_dir() / "fashion-mnist"
    x_tr, y_tr, x_te, y_te = (_fetch(_KERAS_URL + f, folder / f) for f in FASHION_FILES)
    y = np.concatenate([_idx_gz(y_tr, 8), _idx_gz(y_te, 8)])
    with reading(folder, "; delete it to download it again"):
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
        with reading(archive, "; delete it to download it again"), tarfile.open(archive) as tar:
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
        with reading(path, f"; delete {folder} to download it again"), open(path, "rb") as f:
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


def _read_npy(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Inputs in a .npy file, their labels (or targets) in the .npy file `target` names
    (never unpickling anything)."""
    labels = labels_file(path, target)
    with reading(path):
        x = np.load(path, allow_pickle=False)
    with reading(labels):
        y = np.load(labels, allow_pickle=False)
    check_lengths(path, x, labels, y)
    return x, y, f"labels file {labels.name}"


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Arrays `x` and `y` of an .npz file (never unpickling anything)."""
    with reading(path), np.load(path, allow_pickle=False) as arrays:
        for key in ("x", "y"):
            if key not in arrays.files:
                found = ", ".join(arrays.files) or "none"
                raise UserError(f"{path}: no array {key!r}; arrays found: {found}")
        return arrays["x"], arrays["y"], "array 'y'"


def _read_images(path: Path, image_size: int | None) -> tuple[np.ndarray, np.ndarray, str]:
    """An image folder: one subfolder per class, at its load size, gray or RGB."""
    folder = image_folder.scan(path)
    names = np.array(folder.classes)[folder.labels]
    return image_folder.decode_all(folder, image_size), names, "class"


def _prepare(
    name: str, x: np.ndarray, y: np.ndarray, task: Task | None, what: str, kind: str
) -> tuple[DatasetInfo, np.ndarray, np.ndarray]:
    """Check and convert user arrays to the conventions (`Layout`, the same a streamed
    batch goes through); infer the task if not given."""
    info, layout = Layout.infer(name, x, y, task, what, kind)
    x, y = layout.inputs(x), layout.targets(y)
    if info.input_dtype == "float32" and not np.isfinite(x).all():
        raise UserError(f"{name}: inputs contain NaN or infinite values")
    if info.task == "regression" and not np.isfinite(y).all():
        raise UserError(f"{name}: {what} contains NaN or infinite values")
    return info, x, y


@lru_cache(maxsize=1)
def _read_user(
    path: Path, _stamp: int, target: str | None, task: Task | None, image_size: int | None
) -> tuple[DatasetInfo, np.ndarray, np.ndarray]:
    suffix = path.suffix.lower()
    if path.is_dir():
        x, y, what = _read_images(path, image_size)
        kind = image_folder.KIND
    elif suffix in TABLE_KINDS:
        x, y, what = tables.read_whole(path, target)
        kind = TABLE_KINDS[suffix]
    elif suffix == ".npy":
        x, y, what = _read_npy(path, target)
        kind = NPY_KIND
    elif suffix == ".npz":
        x, y, what = _read_npz(path)
        kind = "NPZ file"
    else:
        raise UserError(f"{path}: unsupported data file; use {OWN_DATA} "
                        f"({', '.join(TEXT_SUFFIXES)})")
    return _prepare(str(path), x, y, task, what, kind)


def _user_path(data: DataSpec) -> Path:
    """The path of a person's own data, which must exist."""
    path = Path(data.dataset).expanduser()
    if not path.exists():
        if path.suffix or any(c in data.dataset for c in ("/", os.sep, "~")):
            raise UserError(f"data file not found: {path}")
        raise UserError(
            f"{choices_error('dataset', data.dataset, builtin_names())}; or give the path "
            f"of {OWN_DATA}"
        )
    return path


def user_data(data: DataSpec, task: Task | None) -> tuple[DatasetInfo, np.ndarray, np.ndarray]:
    """A person's own data loaded whole (and cached)."""
    path = _user_path(data)
    return _read_user(path, _stamp(path, data.target), data.target, task, data.image_size)


def user_info(data: DataSpec, task: Task | None) -> DatasetInfo:
    """What a person's own data holds: opened to stream when it streams (nothing decoded),
    else loaded whole (and cached)."""
    path = _user_path(data)
    opened = streaming.open_user(path, data, task)
    if opened is not None:
        return opened.info
    return _read_user(path, _stamp(path, data.target), data.target, task, data.image_size)[0]


def _stamp(path: Path, target: str | None) -> int:
    """Changes when the file (or any file of an image folder, or a .npy file's labels)
    changes; keys the read cache."""
    files = sorted(path.glob("*/*")) if path.is_dir() else [path]
    if path.suffix.lower() == ".npy":
        files.append(labels_file(path, target))
    return hash(tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))


# --- the public entry points ---------------------------------------------------------------


def _builtin(entry: Builtin, data: DataSpec, info: DatasetInfo) -> tuple[DatasetInfo, Arrays]:
    """A built-in set's arrays, whole."""
    kind = entry.info.name
    if kind in GENERATORS:
        x, y = GENERATORS[kind](data, info.size)
    else:
        x, y = LOADERS[kind](info.size)
    x = np.asarray(x, info.input_dtype)
    y = np.asarray(y).reshape(len(y), -1) if info.task == "regression" else np.asarray(y)
    return replace(info, needs_download=False), (x, y)


def _text_windows(data: DataSpec, info: DatasetInfo) -> TextWindows:
    """A text's token ids, for its windows to be cut a batch at a time."""
    corpus = text.corpus(data)
    chars = corpus.text
    ids = np.empty(len(chars), np.min_scalar_type(len(corpus.alphabet) - 1))
    for start in range(0, len(chars), _TEXT_CHUNK):
        ids[start : start + _TEXT_CHUNK] = _char_ids(
            chars[start : start + _TEXT_CHUNK], corpus.alphabet
        )
    return TextWindows(info, ids, corpus.block_size)


def _empty(info: DatasetInfo) -> Arrays:
    """No samples, shaped as the data set's."""
    x = np.zeros((0, *info.input_shape), info.input_dtype)
    if info.task == "regression":
        return x, np.zeros((0, info.num_outputs), np.float32)
    return x, np.zeros((0, *info.target_shape), np.int64)


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


@dataclass(frozen=True)
class _Loaded:
    """A data set before it is split: opened to stream, or its arrays loaded whole (served
    through the streaming pipeline all the same when `stream`)."""

    info: DatasetInfo
    opened: Streamable | None = None
    arrays: Arrays | None = None
    stream: bool = True


def _load(
    data: DataSpec, entry: Builtin | None, task: Task | None, augment: Augment | None
) -> _Loaded:
    if entry is not None:
        info = builtin_info(entry, data, task)
        stream = streaming.streams(data, streaming.decoded_bytes(info), info.name)
        if stream and entry.info.name == text.CHARS:
            return _Loaded(info, opened=_text_windows(data, info))
        info, arrays = _builtin(entry, data, info)
        return _Loaded(info, arrays=arrays, stream=stream)
    path = _user_path(data)
    opened = streaming.open_user(path, data, task)
    if opened is not None:
        return _Loaded(opened.info, opened=opened)
    info, x, y = _read_user(path, _stamp(path, data.target), data.target, task, data.image_size)
    return _Loaded(info, arrays=(x, y), stream=data.stream == "always" or augment is not None)


def _split_whole(
    info: DatasetInfo, arrays: Arrays, index: SplitIndex, saved: Preprocessing | None
) -> tuple[list[np.ndarray], list[np.ndarray], Scaling | None, Scaling | None]:
    """Arrays loaded whole, split and standardized."""
    x, y = arrays
    xs = [x[i] for i in index.parts]
    ys = [y[i] for i in index.parts]
    inputs = targets = None
    if standardizes_inputs(info):
        train_x = xs[0]
        inputs = saved_or_fit(
            saved and saved.inputs, train_x.shape[-1], lambda: Scaling.fit(train_x), "input",
            info.name,
        )  # fmt: skip
        xs = [inputs.apply(part) for part in xs]
    if info.task == "regression":
        train_y = ys[0]
        targets = saved_or_fit(
            saved and saved.targets, train_y.shape[-1], lambda: Scaling.fit(train_y), "target",
            info.name,
        )  # fmt: skip
        ys = [targets.apply(part) for part in ys]
    else:
        ys = [part.astype(np.int64) for part in ys]
    return xs, ys, inputs, targets


def load_splits(
    data: DataSpec,
    seed: int,
    task: Task | None = None,
    saved: Preprocessing | None = None,
    recorded: SplitIndex | None = None,
) -> Splits:
    """Load `data` and split it into train/val/test: the `recorded` split of a run, else
    drawn the same way for the same seed (the data's own `seed` when it has one, else the
    run's `seed`).

    Float inputs of tabular or sequence shape are standardized per feature, and regression
    targets per column, with the `saved` statistics of the run, else the train split's own
    (which the result carries); image pixels are in [0, 1]. Data that streams
    (`core/streaming.py`) comes back as `Splits.streams`, its batches read and converted as
    a framework's pipeline asks for them.
    """
    entry = entry_of(data)
    augment = Augment.from_spec(data)
    loaded = _load(data, entry, task, augment)
    info = loaded.info
    if augment is not None:
        augment.check(info.input_shape, info.name)
        if data.stream == "never":
            raise UserError(
                f"{info.name}: data.augment is applied as the input pipeline streams the "
                'training images, which data.stream = "never" turns off; use "auto"'
            )
    size = info.size if loaded.arrays is None else len(loaded.arrays[0])
    split_seed = seed if data.seed is None else data.seed
    if recorded is not None:
        recorded.check(size, info.name)
        index = recorded
    else:
        index = SplitIndex.draw(size, data.val_fraction, data.test_fraction, split_seed, info.name)
    vocabulary = None
    if entry is not None and entry.info.name == text.CHARS:
        counts = (len(index.train), len(index.val), len(index.test))
        vocabulary = _vocabulary(data, split_seed, counts, saved and saved.vocabulary)
    if loaded.opened is not None:
        sources, inputs, targets = loaded.opened.sources(index, saved)
        streams = Streams(*sources, augment, seed, data_workers(data))
        preprocessing = Preprocessing(inputs, targets, vocabulary)
        return Splits(info, *_empty(info) * 3, preprocessing, streams, index)
    assert loaded.arrays is not None  # what is not opened to stream is loaded whole
    xs, ys, inputs, targets = _split_whole(info, loaded.arrays, index, saved)
    preprocessing = Preprocessing(inputs, targets, vocabulary)
    if loaded.stream:
        sources = [ArraySource(xp, yp) for xp, yp in zip(xs, ys, strict=True)]
        streams = Streams(*sources, augment, seed, data_workers(data))
        empty_x, empty_y = xs[0][:0], ys[0][:0]
        return Splits(info, *[empty_x, empty_y] * 3, preprocessing, streams, index)
    return Splits(info, xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], preprocessing, index=index)


def data_workers(data: DataSpec) -> int:
    """Data-loading worker processes: `data.workers`, else one per core of the run's
    (core/cores.py: all but one, or its share beside other runs), at most 4; none on a
    one-core machine."""
    if data.workers is not None:
        return data.workers
    return min(4, cores()) if machine_cores() > 1 else 0
