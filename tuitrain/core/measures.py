"""The registry of losses and metrics: for each name, its task, whether higher is better, and
how it accumulates as a sum over samples and a count of samples (so that partial results, of
batches or of processes, add up before one final step turns them into the value).

Every backend implements exactly these names (tests/test_measures_backends.py checks it), and
the per-sample definitions here are the reference their values are tested against. numpy is
imported on first use: the setup screen reads names from here and must start without it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from tuitrain.core.catalog import Task
from tuitrain.core.errors import choices_error

if TYPE_CHECKING:
    import numpy as np

Direction = Literal["higher", "lower"]
# How the sum of per-sample values over `count` samples becomes the value: its mean, the
# square root of its mean (a root-mean-square), or e to the power of its mean (perplexity).
Reduce = Literal["mean", "root_mean", "exp_mean"]

LOSS = "loss"  # the name every run reports its loss under, whichever loss it trains with
GRAD_NORM = "grad_norm"  # an engine's sampled gradient norms, beside its per-step values

PerSample = Callable[["np.ndarray", "np.ndarray"], "np.ndarray"]


@dataclass(frozen=True)
class Measure:
    """A loss or metric: `per_sample(outputs, targets)` gives one value per sample (outputs are
    the model's raw outputs, logits for classification); the sum of those over any set of
    samples and their count are the accumulated state; `finish` turns that into the value."""

    name: str
    task: Task
    direction: Direction
    reduce: Reduce
    per_sample: PerSample
    per_position: bool = False  # also scores a label per position (-1 = none), e.g. `addition`

    def sums(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, int]:
        """The accumulated state of one batch: (sum of per-sample values, sample count)."""
        return float(self.per_sample(outputs, targets).sum()), len(targets)

    def finish(self, total: np.ndarray, count: np.ndarray) -> np.ndarray:
        """The value of accumulated sums and counts (arrays of them, one value each)."""
        import numpy as np

        mean = total / np.maximum(count, 1)
        if self.reduce == "root_mean":
            return np.sqrt(mean)
        return np.exp(mean) if self.reduce == "exp_mean" else mean

    def totals(self, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The sums behind finished values, each of `counts` samples (`finish` undone), so
        that values of batches add up to the value of all of them."""
        import numpy as np

        if self.reduce == "root_mean":
            return values**2 * counts
        return (np.log(values) if self.reduce == "exp_mean" else values) * counts


def _error(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return outputs.reshape(targets.shape) - targets


def _squared_error(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Squared error, averaged over a sample's outputs."""
    return (_error(outputs, targets) ** 2).mean(axis=-1)


def _absolute_error(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Absolute error, averaged over a sample's outputs."""
    return abs(_error(outputs, targets)).mean(axis=-1)


def _huber(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Huber loss with delta 1 (quadratic within 1, linear beyond), averaged over outputs."""
    import numpy as np

    e = abs(_error(outputs, targets))
    return np.where(e <= 1.0, 0.5 * e**2, e - 0.5).mean(axis=-1)


def _cross_entropy(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-log softmax(logits)[true class]; with a label per position (outputs (N, L, classes),
    targets (N, L), -1 where a position asks nothing), each sample's mean over its labelled
    positions."""
    import numpy as np

    shifted = outputs - outputs.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=-1))
    asked = targets >= 0
    picked = np.take_along_axis(
        shifted, np.where(asked, targets, 0)[..., None].astype(np.int64), -1
    )
    per_position = np.where(asked, log_norm - picked[..., 0], 0.0)
    if per_position.ndim == 1:
        return per_position
    return per_position.sum(axis=1) / np.maximum(asked.sum(axis=1), 1)


def _binary_cross_entropy(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cross-entropy of one logit z against a 0/1 target y: softplus(z) - y z."""
    import numpy as np

    z = outputs[:, 0]
    return np.maximum(z, 0) - z * targets + np.log1p(np.exp(-abs(z)))


def _correct(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1 where the predicted class is the true one: argmax of the logits, or for a single
    logit (binary cross-entropy) whether it is above 0."""
    pred = outputs[:, 0] > 0 if outputs.shape[-1] == 1 else outputs.argmax(axis=-1)
    return (pred == targets).astype(float)


def _exact_match(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1 where every answered position of a sample is predicted right. Targets are one class
    per sample (N,) or one per position (N, L), with -1 marking a position that asks nothing
    (a sequence's prompt); outputs are logits (N, classes) or (N, L, classes). With one label
    per sample it equals accuracy; on a sequence scored with its true prefix (teacher
    forcing) it equals greedy decoding's exact match, since each right answer token makes
    the next prefix the true one."""
    pred = outputs[..., 0] > 0 if outputs.shape[-1] == 1 else outputs.argmax(axis=-1)
    targets = targets.reshape(pred.shape)
    right = (pred == targets) | (targets < 0)
    return right.reshape(len(right), -1).all(axis=1).astype(float)


_MAE = Measure("mae", "regression", "lower", "mean", _absolute_error)

LOSSES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("cross_entropy", "classification", "lower", "mean", _cross_entropy, True),
        Measure("binary_cross_entropy", "classification", "lower", "mean", _binary_cross_entropy),
        Measure("mse", "regression", "lower", "mean", _squared_error),
        _MAE,
        Measure("huber", "regression", "lower", "mean", _huber),
    )
}

METRICS: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("accuracy", "classification", "higher", "mean", _correct),
        Measure("exact_match", "classification", "higher", "mean", _exact_match, True),
        # e to the mean cross-entropy: the number of tokens a language model is as unsure
        # between as a uniform guess among that many would be
        Measure("perplexity", "classification", "lower", "exp_mean", _cross_entropy, True),
        _MAE,
        Measure("rmse", "regression", "lower", "root_mean", _squared_error),
    )
}


def losses_for(task: Task) -> list[str]:
    """Loss names that fit a task, for pickers and error messages."""
    return [name for name, m in LOSSES.items() if m.task == task]


def metrics_for(task: Task) -> list[str]:
    """Metric names that fit a task."""
    return [name for name, m in METRICS.items() if m.task == task]


def direction(name: str) -> Direction:
    """Whether a reported value is better higher or lower: the loss, or a metric's own."""
    if name == LOSS:
        return "lower"
    return lookup(METRICS, name, "metric").direction


T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, what: str) -> T:
    """`table[name]`, or the one-line error naming the unknown name and the valid ones: how
    backends find their implementation of a loss, metric or optimizer (never a default)."""
    try:
        return table[name]
    except KeyError:
        raise choices_error(what, name, table) from None
