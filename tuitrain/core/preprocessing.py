"""What a run's data goes through at load: the standardization (per-feature mean and standard
deviation of the inputs, float tabular or sequence data, and per-column ones of regression
targets, taken from the train split) and, for text, the vocabulary that turns characters into
token ids (`core/text.py`). The runner saves them in the run folder (`preprocessing.json`)
when a run starts; resume, eval, export and sampling read them back, so they are never
recomputed differently. Data that streams has its statistics taken a chunk at a time
(`Scaling.fit_chunks`). Pure NumPy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuitrain.core.atomic import write_atomic
from tuitrain.core.errors import UserError
from tuitrain.core.text import Vocabulary

if TYPE_CHECKING:
    from tuitrain.core.datasets import DatasetInfo

FILE = "preprocessing.json"
_MIN_STD = 1e-8  # a constant feature is centred, not divided by ~0


@dataclass(frozen=True)
class Scaling:
    """Mean and standard deviation of each feature (the last axis)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray) -> Scaling:
        """The statistics of `x` over every axis but the last."""
        axes = tuple(range(x.ndim - 1))
        mean = x.mean(axis=axes, dtype=np.float64)
        std = x.std(axis=axes, dtype=np.float64)
        std[std < _MIN_STD] = 1.0
        return cls(tuple(mean.tolist()), tuple(std.tolist()))

    @classmethod
    def fit_chunks(cls, chunks: Iterable[np.ndarray]) -> Scaling:
        """`fit` over the concatenation of `chunks`, one chunk in memory at a time: each
        chunk's mean and sum of squared deviations in float64, merged (Chan et al.), so the
        result matches `fit` to float32 precision without the data ever being whole."""
        count, mean, m2 = 0, np.zeros(0), np.zeros(0)
        for chunk in chunks:
            x = chunk.reshape(-1, chunk.shape[-1]).astype(np.float64)
            if not len(x):
                continue
            m, d2 = x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).sum(axis=0)
            if count == 0:
                count, mean, m2 = len(x), m, d2
                continue
            total = count + len(x)
            delta = m - mean
            mean = mean + delta * (len(x) / total)
            m2 = m2 + d2 + delta**2 * (count * len(x) / total)
            count = total
        std = np.sqrt(m2 / count)
        std[std < _MIN_STD] = 1.0
        return cls(tuple(mean.tolist()), tuple(std.tolist()))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Raw values -> standardized float32."""
        return ((x - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def restore(self, z: np.ndarray) -> np.ndarray:
        """Standardized values -> the data's own units (float32)."""
        return (z * np.asarray(self.std) + np.asarray(self.mean)).astype(np.float32)


@dataclass(frozen=True)
class Preprocessing:
    """What standardized a run's data: None where nothing was (images, token ids, labels);
    and the vocabulary of text (None for other data)."""

    inputs: Scaling | None
    targets: Scaling | None
    vocabulary: Vocabulary | None = None

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            name: None if s is None else {"mean": list(s.mean), "std": list(s.std)}
            for name, s in (("inputs", self.inputs), ("targets", self.targets))
        }
        if self.vocabulary is not None:
            doc["vocabulary"] = self.vocabulary.to_document()
        return doc

    @classmethod
    def from_document(cls, doc: object) -> Preprocessing:
        """Raises ValueError when `doc` is not what `to_document` writes."""
        if not isinstance(doc, dict) or set(doc) - {"vocabulary"} != {"inputs", "targets"}:
            raise ValueError("expected the keys inputs and targets (and vocabulary for text)")
        vocabulary = doc.get("vocabulary")
        return cls(
            _scaling(doc["inputs"]),
            _scaling(doc["targets"]),
            None if vocabulary is None else Vocabulary.from_document(vocabulary),
        )


def _scaling(part: object) -> Scaling | None:
    if part is None:
        return None
    if not isinstance(part, dict):
        raise ValueError("expected null or {mean, std}")
    mean, std = part.get("mean"), part.get("std")
    numbers = (int, float)
    if not (
        isinstance(mean, list)
        and isinstance(std, list)
        and len(mean) == len(std) > 0
        and all(isinstance(v, numbers) for v in mean + std)
        and all(v > 0 for v in std)
    ):
        raise ValueError("mean and std must be lists of numbers of one length, std > 0")
    return Scaling(tuple(map(float, mean)), tuple(map(float, std)))


def write(path: Path, preprocessing: Preprocessing) -> None:
    """Save the statistics atomically (float64 values, exact in JSON)."""
    write_atomic(path, json.dumps(preprocessing.to_document(), indent=2) + "\n")


def read(path: Path) -> Preprocessing | None:
    """The saved statistics, or None when the run predates them (no file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return Preprocessing.from_document(json.loads(text))
    except ValueError as exc:
        raise UserError(f"{path}: not a valid preprocessing file ({exc})") from None


def standardizes_inputs(info: DatasetInfo) -> bool:
    """Whether a run's inputs are standardized: float features of tabular or sequence
    shape (not images, not token ids)."""
    return info.input_dtype == "float32" and len(info.input_shape) <= 2


def saved_or_fit(
    given: Scaling | None, columns: int, fit: Callable[[], Scaling], what: str, name: str
) -> Scaling:
    """`given` (a run's saved statistics), checked against the data's `columns`, else the
    train split's own (`fit`)."""
    if given is None:
        return fit()
    if len(given.mean) != columns:
        raise UserError(
            f"{name}: the run's saved {what} statistics have {len(given.mean)} columns, the "
            f"data has {columns}; the data changed since the run started"
        )
    return given
