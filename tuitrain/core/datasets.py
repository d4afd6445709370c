"""The dataset catalogue: what each built-in set is (task, shape, classes, size, whether its
download is cached), all without numpy, which the setup screen needs before its first frame.
Generated tasks (`addition`) are built-in sets whose shape follows their [data] settings
(`digits`) and whose problems are drawn from a seed; character-level text (`chars`, or a
text file or folder: `core/text.py`) is cut into windows of `block_size`. The arrays
themselves come from `core/data.py`; `core/datainfo.py` describes any dataset."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tuitrain.core import text
from tuitrain.core.catalog import Task
from tuitrain.core.errors import UserError
from tuitrain.core.spec import DataSpec

# What a person may give as their own data, as error messages and the setup screen say it.
OWN_DATA = "a .csv, .parquet, .npy or .npz file, an image folder or a text file"

SINE_STEPS = 40
CIFAR_DIR = "cifar-10-batches-py"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
ADDITION_DIGITS = 2  # digits of each number when [data] does not say
MAX_DIGITS = 9  # 10**(2 * digits) problems must count in int64
ADDITION_SAMPLES = 10_000  # problems drawn when [data] does not say (all of them for 2 digits)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset before seeing it."""

    name: str  # "digits", or the file path for user data
    task: Task
    input_shape: tuple[int, ...]  # per sample, no batch dim; images channels-last (H, W, C)
    num_outputs: int  # classes for classification, target columns for regression
    class_names: tuple[str, ...]  # () for regression
    input_dtype: str  # "float32" or "int64" (token ids)
    needs_download: bool  # a public set that is not in the cache yet
    description: str
    size: int  # samples in total
    # Labels per sample: () for one; (L,) for a label at each of L positions (class ids, -1
    # where a position asks nothing, e.g. a sequence's prompt).
    target_shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class Builtin:
    """A catalogue entry: the dataset's info (its arrays come from `data.LOADERS`)."""

    info: DatasetInfo
    default_samples: int = 0  # synthetic sets: the count `DataSpec.samples = 0` means
    cached: Callable[[], bool] | None = None  # downloadable sets: are the files here?
    # Generated tasks and text: the info for the [data] settings (digits, samples, ...).
    settings: Callable[[DatasetInfo, DataSpec], DatasetInfo] | None = None
    keys: tuple[str, ...] = ()  # the [data] settings of its kind it takes (`OWN_KEYS`)


def cache_dir() -> Path:
    """Where downloads go: Keras's cache, `$KERAS_HOME/datasets` or `~/.keras/datasets`."""
    home = os.environ.get("KERAS_HOME") or str(Path("~/.keras").expanduser())
    return Path(home) / "datasets"


def _all_files(*relative: str) -> Callable[[], bool]:
    return lambda: all((cache_dir() / p).is_file() for p in relative)


# --- the catalogue -------------------------------------------------------------------------


def cifar_folder() -> Path | None:
    """The extracted batches: our (and tf.keras's) layout, or Keras 3's."""
    root = cache_dir()
    for folder in (root / CIFAR_DIR, root / f"{CIFAR_DIR}-target" / CIFAR_DIR):
        if (folder / "test_batch").is_file():
            return folder
    return None


def _entry(
    name: str,
    task: Task,
    shape: tuple[int, ...],
    classes: tuple[str, ...] | int,
    description: str,
    size: int,
    synthetic: bool = False,
    cached: Callable[[], bool] | None = None,
) -> Builtin:
    """One catalogue entry; `classes` is the class names, or their count (0 for regression)."""
    names = tuple(str(i) for i in range(classes)) if isinstance(classes, int) else classes
    outputs = len(names) if task == "classification" else 1
    class_names = names if task == "classification" else ()
    info = DatasetInfo(
        name, task, shape, outputs, class_names, "float32", cached is not None, description, size
    )
    return Builtin(info, size if synthetic else 0, cached)


def _addition(info: DatasetInfo, data: DataSpec) -> DatasetInfo:
    """Addition of two `digits`-digit numbers: 3 * digits tokens in, a label at each."""
    digits = ADDITION_DIGITS if data.digits is None else data.digits
    problems = 10 ** (2 * digits)
    size = data.samples or min(problems, ADDITION_SAMPLES)
    if size > problems:
        raise UserError(
            f"addition of {digits}-digit numbers has {problems} distinct problems; "
            f"data.samples {size} asks for more"
        )
    return replace(
        info,
        input_shape=(3 * digits,),
        target_shape=(3 * digits,),
        size=size,
        description=f"{digits}-digit addition, {size} distinct problems (generated)",
    )


_ADDITION = Builtin(
    DatasetInfo(
        "addition", "classification", (), 10, tuple("0123456789"), "int64", False,
        "two-number addition, character level (generated)", 0,
    ),
    settings=_addition,
    keys=("digits",),
)  # fmt: skip


def _chars(info: DatasetInfo, data: DataSpec) -> DatasetInfo:
    """Windows of `block_size` characters of the corpus, the next character at each."""
    corpus = text.corpus(data)
    alphabet = corpus.alphabet
    block = corpus.block_size
    source = "the Python standard library" if data.dataset == text.CHARS else data.dataset
    return replace(
        info,
        name=data.dataset,
        input_shape=(block,),
        target_shape=(block,),
        num_outputs=len(alphabet),
        class_names=tuple(text.char_name(c) for c in alphabet),
        size=corpus.windows,
        description=(
            f"{corpus.windows} windows of {block} characters of {source}, "
            f"{len(alphabet)} distinct characters"
        ),
    )


_CHARS = Builtin(
    DatasetInfo(
        text.CHARS, "classification", (), 0, (), "int64", False,
        "character-level text: the Python standard library's source, or your text file", 0,
    ),
    settings=_chars,
    keys=("block_size",),
)  # fmt: skip
# The [data] settings that belong to one kind of dataset, and what has them (for errors).
OWN_KEYS: dict[str, str] = {
    "digits": "generated tasks (addition)",
    "block_size": "text data (chars, a text file or a folder of text files)",
    "image_size": "image folders",
}

_FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_CIFAR_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

BUILTIN: dict[str, Builtin] = {
    entry.info.name: entry
    for entry in (
        _entry("moons", "classification", (2,), 2, "two interleaving half circles (noise 0.2)",
               2000, synthetic=True),
        _entry("spirals", "classification", (2,), 3, "three interleaved spiral arms",
               1500, synthetic=True),
        _entry("sine", "regression", (SINE_STEPS, 1), 0,
               f"noisy sums of two sines: predict the next value from {SINE_STEPS} steps",
               4000, synthetic=True),
        _entry("digits", "classification", (8, 8, 1), 10,
               "8x8 handwritten digits (scikit-learn)", 1797),
        _entry("diabetes", "regression", (10,), 0,
               "disease progression from 10 measurements (scikit-learn)", 442),
        _entry("iris", "classification", (4,), ("setosa", "versicolor", "virginica"),
               "iris species from 4 flower measurements (scikit-learn)", 150),
        _entry("wine", "classification", (13,), ("class_0", "class_1", "class_2"),
               "wine cultivar from 13 chemical measurements (scikit-learn)", 178),
        _entry("breast_cancer", "classification", (30,), ("malignant", "benign"),
               "tumour diagnosis from 30 cell-nucleus features (scikit-learn)", 569),
        _entry("mnist", "classification", (28, 28, 1), 10,
               "28x28 handwritten digits (11 MB download)", 70000,
               cached=_all_files("mnist.npz")),
        _entry("fashion-mnist", "classification", (28, 28, 1), _FASHION_NAMES,
               "28x28 clothing images (30 MB download)", 70000,
               cached=_all_files(*(f"fashion-mnist/{f}" for f in FASHION_FILES))),
        _entry("cifar10", "classification", (32, 32, 3), _CIFAR_NAMES,
               "32x32 colour images of 10 classes (170 MB download)", 60000,
               cached=lambda: cifar_folder() is not None),
        _ADDITION,
        _CHARS,
    )
}  # fmt: skip


def builtin_names() -> list[str]:
    """Names of the built-in datasets, in catalogue order."""
    return list(BUILTIN)


def own_data_name(data: DataSpec) -> str | None:
    """What a person's own data is called: its file's name without the suffix, or its
    folder's name; None for a built-in set."""
    if data.dataset in BUILTIN:
        return None
    path = Path(data.dataset).expanduser()
    return path.name if path.is_dir() else path.stem


def pinned(data: DataSpec) -> DataSpec:
    """`data` with a person's own file or folder named by its absolute path, as a new run
    records it: resume, eval and export then find the data from any working directory."""
    if data.dataset in BUILTIN:
        return data
    path = Path(data.dataset).expanduser()
    return replace(data, dataset=str(path.resolve())) if path.exists() else data


def catalogue_info(entry: Builtin) -> DatasetInfo:
    """A built-in set's entry with whether its download is cached, before any [data]
    settings: nothing is generated or read (what a list of datasets needs)."""
    if entry.cached is None:
        return entry.info
    return replace(entry.info, needs_download=not entry.cached())


def builtin_info(entry: Builtin, data: DataSpec, task: Task | None) -> DatasetInfo:
    info = catalogue_info(entry)
    if task is not None and task != info.task:
        raise UserError(f"dataset {info.name!r} is for {info.task}, but the task is {task}")
    if entry.default_samples and data.samples > 0:
        info = replace(info, size=data.samples)
    check_own_keys(data, entry.keys, f"dataset {data.dataset!r}")
    if entry.settings is not None:
        info = entry.settings(info, data)
    return info


def check_own_keys(data: DataSpec, takes: tuple[str, ...], what: str) -> None:
    """A [data] setting of another kind of dataset (`OWN_KEYS`) is a one-line error."""
    for key, owner in OWN_KEYS.items():
        if getattr(data, key) is not None and key not in takes:
            raise UserError(f"data.{key} is a setting of {owner}; {what} has none")


def entry_of(data: DataSpec) -> Builtin | None:
    """The catalogue entry `data` is read by: its built-in set, `chars` for a text file or
    folder, None for other files of a person's own."""
    entry = BUILTIN.get(data.dataset)
    if entry is None and text.is_text_source(data.dataset):
        return BUILTIN[text.CHARS]
    return entry
