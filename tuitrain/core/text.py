"""Character-level text, the `chars` dataset kind: where a corpus comes from (a text file, a
folder of text files, or by default the Python standard library's own source, found from the
running interpreter, so it is on every machine and needs no download), the characters it is
cut into (contiguous windows of `data.block_size`, `data.samples` of them or as many as it
holds), and its vocabulary: every character it holds, in code-point order, token id = index.

A run keeps the vocabulary in its run folder (`Vocabulary`, inside `preprocessing.json`), so
that sampling, eval and export decode exactly as training encoded, with the corpus's hash and
the split it was cut into. Pure Python: the catalogue reads a corpus for its size before numpy
loads; `core/data.py` cuts the windows."""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tuitrain.core.errors import UserError
from tuitrain.core.spec import DataSpec

CHARS = "chars"  # the dataset name of the default corpus
BLOCK_SIZE = 64  # characters per window when [data] does not say
MAX_BLOCK_SIZE = 4096
# The default corpus: the standard library's top-level modules in name order, cut at this many
# characters (about 1 MB), so that it loads in well under a second on any machine.
STDLIB_CHARS = 1_000_000
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".py")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class Corpus:
    """The text a run is cut from: exactly the characters its windows use."""

    text: str
    source: str  # what it is, for descriptions and errors
    windows: int  # contiguous windows of `block_size` characters (+1 for the last target)
    block_size: int
    alphabet: str  # every character of the text by code point: token id i is alphabet[i]
    sha256: str  # of the text, UTF-8


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _folder_files(folder: Path) -> list[Path]:
    """A folder's text files, at any depth, in path order (hidden ones left out)."""
    return sorted(
        f
        for f in folder.rglob("*")
        if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES and not _hidden(f, folder)
    )


def is_text_source(dataset: str) -> bool:
    """Whether `dataset` names character-level text: `chars`, a text file (`.txt`, `.md`,
    `.rst`, `.py`), or a folder holding text files and no images (a folder of images is an
    image folder)."""
    if dataset == CHARS:
        return True
    path = Path(dataset).expanduser()
    if path.is_file():
        return path.suffix.lower() in TEXT_SUFFIXES
    if not path.is_dir():
        return False
    has_text = False
    for f in path.rglob("*"):
        suffix = f.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return False
        has_text = has_text or (suffix in TEXT_SUFFIXES and not _hidden(f, path) and f.is_file())
    return has_text


def block_size(data: DataSpec) -> int:
    return BLOCK_SIZE if data.block_size is None else data.block_size


def stdlib_folder() -> Path:
    """The running interpreter's standard library (the same inside a virtual environment)."""
    return Path(sysconfig.get_paths()["stdlib"])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _stdlib_text() -> tuple[str, str]:
    folder = stdlib_folder()
    files = sorted(folder.glob("*.py"))
    if not files:
        raise UserError(
            f"no Python source files in {folder} (this Python ships its standard library "
            "compiled); train on your own text with --data FILE.txt"
        )
    parts, size = [], 0
    for f in files:
        parts.append(_read(f))
        size += len(parts[-1])
        if size >= STDLIB_CHARS:
            break
    text = "".join(parts)[:STDLIB_CHARS]
    return text, f"the Python standard library's source ({len(parts)} files of {folder})"


def _stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Changes when a file of the corpus changes; keys the read cache."""
    files = _folder_files(path) if path.is_dir() else [path]
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)


@lru_cache(maxsize=2)
def _text(dataset: str, _stamp: tuple[tuple[str, int, int], ...]) -> tuple[str, str]:
    """The whole text of a corpus and what it is."""
    if dataset == CHARS:
        return _stdlib_text()
    path = Path(dataset).expanduser()
    if path.is_file():
        return _read(path), str(path)
    files = _folder_files(path)
    return "".join(_read(f) for f in files), f"{path} ({len(files)} text files)"


def corpus(data: DataSpec) -> Corpus:
    """The characters `data` trains on: `data.samples` windows of `data.block_size` (0 = as
    many as the text holds), cut contiguously from its start; each window's targets are the
    next characters, so the text used is one character longer than the windows."""
    stamp = () if data.dataset == CHARS else _stamp(Path(data.dataset).expanduser())
    return _corpus(data.dataset, stamp, data.samples, block_size(data))


@lru_cache(maxsize=4)
def _corpus(
    dataset: str, stamp: tuple[tuple[str, int, int], ...], samples: int, block: int
) -> Corpus:
    text, source = _text(dataset, stamp)
    windows = (len(text) - 1) // block
    if windows < 1:
        raise UserError(
            f"{source}: {len(text)} characters make no window of {block} characters and its "
            "next one; give more text or a smaller data.block_size"
        )
    if samples > windows:
        raise UserError(
            f"{source} holds {windows} windows of {block} characters; data.samples {samples} "
            "asks for more"
        )
    n = samples or windows
    used = text[: n * block + 1]
    alphabet = "".join(sorted(set(used)))
    return Corpus(used, source, n, block, alphabet, hashlib.sha256(used.encode()).hexdigest())


def char_name(char: str) -> str:
    """A character as a table shows it: `space`, `\\n`, `\\t`, else itself."""
    return "space" if char == " " else repr(char)[1:-1]


@dataclass(frozen=True)
class Vocabulary:
    """What a run's text went through: its characters (token id i is `chars[i]`), the window
    length, the corpus it came from (with the hash of exactly the text used) and the windows
    in each split, drawn with `split_seed`. Saved when the run starts."""

    chars: str
    block_size: int
    source: str
    sha256: str
    split_seed: int
    windows: tuple[int, int, int]  # train, val, test

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; a character outside the vocabulary is a UserError."""
        index = {c: i for i, c in enumerate(self.chars)}
        for c in text:
            if c not in index:
                raise UserError(
                    f"{c!r} is not in the run's vocabulary ({len(self.chars)} characters of "
                    f"{self.source}); use characters the model was trained on"
                )
        return [index[c] for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def to_document(self) -> dict[str, Any]:
        return {
            "chars": list(self.chars),
            "block_size": self.block_size,
            "source": self.source,
            "sha256": self.sha256,
            "split": {
                "seed": self.split_seed,
                **dict(zip(("train", "val", "test"), self.windows, strict=True)),
            },
        }

    @classmethod
    def from_document(cls, doc: object) -> Vocabulary:
        """Raises ValueError when `doc` is not what `to_document` writes."""
        split = doc.get("split") if isinstance(doc, dict) else None
        if not isinstance(doc, dict) or not isinstance(split, dict):
            raise ValueError("vocabulary needs chars, block_size, source, sha256 and split")
        chars = doc.get("chars")
        numbers = [doc.get("block_size"), *(split.get(k) for k in ("seed", "train", "val", "test"))]
        if not (
            isinstance(chars, list)
            and all(isinstance(c, str) and len(c) == 1 for c in chars)
            and len(set(chars)) == len(chars) > 0
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers)
            and numbers[0] > 0
            and isinstance(doc.get("source"), str)
            and isinstance(doc.get("sha256"), str)
        ):
            raise ValueError(
                "vocabulary needs chars (distinct single characters), block_size > 0, source, "
                "sha256 and split {seed, train, val, test} (whole numbers)"
            )
        block, seed, train, val, test = numbers
        return cls("".join(chars), block, doc["source"], doc["sha256"], seed, (train, val, test))
