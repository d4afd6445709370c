"""TensorFlow's own input pipeline for data that streams (core/sources.py), for the TensorFlow
engine and Keras on TensorFlow: a tf.data pipeline per epoch over the Sampler's rows, in
order, prefetched (AUTOTUNE), whose batches a graph-executed block takes stacked.

An image folder whose images are JPEG or PNG files stored at the size and mode they load at
(`ImageSource.as_stored`) is read and decoded by TensorFlow's own ops in a parallel map, one
image per element, cropped and flipped by the same draws as `core/augment.py` (the values
are those of Pillow's decoding and numpy's augmentation, bit for bit: a test compares them).
Any other source is read by `Streams.train_batch` in a parallel map of `numpy_function`s,
which hold the interpreter lock for their Python parts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from tuitrain.core.batches import Pipeline, StreamedSource
from tuitrain.core.image_folder import ImageSource
from tuitrain.core.sources import Streams


class Stacked:
    """A streamed source for a graph-executed block: the block's batches, loaded by tf.data,
    stacked into one (steps, batch, ...) tensor each for x and y."""

    def __init__(self, streamed: StreamedSource[tf.Tensor], staged: Any) -> None:
        self.streamed = streamed
        self.staged = staged  # the stacked pair's TensorSpecs

    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        self.streamed.start_epoch(epoch, rows)

    def stage(self, block: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
        xs, ys = zip(*self.streamed.stage(block), strict=True)
        return tf.stack(xs), tf.stack(ys)

    def batch(self, rows: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        return rows


def streamed(streams: Streams) -> Stacked:
    """The training split streamed through tf.data."""
    x0, y0 = streams.train.get(np.zeros(1, np.int64))  # the batches' dtypes and shapes
    types = (tf.as_dtype(x0.dtype), tf.as_dtype(y0.dtype))
    shapes = ([None, *x0.shape[1:]], [None, *y0.shape[1:]])
    source = streams.train
    if isinstance(source, ImageSource) and source.as_stored:
        open_epoch = _decoded_images(streams, source)
    else:
        open_epoch = _batches(streams, types, shapes)
    staged = tuple(tf.TensorSpec([None, *shape], dtype)
                   for shape, dtype in zip(shapes, types, strict=True))
    return Stacked(StreamedSource(open_epoch, lambda x, y: (x, y)), staged)


def _parallel(streams: Streams) -> int:
    return max(1, streams.workers)


def _batches(streams: Streams, types: tuple[tf.DType, tf.DType],
             shapes: tuple[list[Any], list[Any]]) -> Pipeline:
    """Each step's batch from `Streams.train_batch`, a parallel map of numpy functions."""

    def open_epoch(epoch: int, rows: list[np.ndarray]) -> Iterator[tuple[Any, Any, Any]]:
        def load(k: np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            row = rows[int(k)]
            return (row, *streams.train_batch(epoch, row))

        def loaded(k: tf.Tensor) -> tuple[tf.Tensor, ...]:
            values = tf.numpy_function(load, [k], (tf.int64, *types), stateful=False)
            for value, shape in zip(values, ([None], *shapes), strict=True):
                value.set_shape(shape)
            return tuple(values)

        with tf.device("/cpu:0"):  # the pipeline runs on the host whatever the model's device
            return iter(tf.data.Dataset.range(len(rows))
                        .map(loaded, num_parallel_calls=_parallel(streams), deterministic=True)
                        .prefetch(tf.data.AUTOTUNE))

    return open_epoch


def _decoded_images(streams: Streams, source: ImageSource) -> Pipeline:
    """Each image read and decoded by TensorFlow (JPEG with the accurate integer transform,
    as Pillow decodes it), scaled to [0, 1], cropped and flipped as `Augment.draw` says, one
    image per element of a parallel map, batched back into the Sampler's rows."""
    width, height = source.size
    channels = 1 if source.mode == "L" else 3
    paths = np.array([str(f) for f in source.files])
    jpeg = np.array([f.suffix.lower() in (".jpg", ".jpeg") for f in source.files])
    augment, pad = streams.augment, streams.augment.crop if streams.augment else 0

    def load(position: tf.Tensor, path: tf.Tensor, is_jpeg: tf.Tensor, label: tf.Tensor,
             top: tf.Tensor, left: tf.Tensor, flip: tf.Tensor) -> tuple[tf.Tensor, ...]:
        raw = tf.io.read_file(path)
        pixels = tf.cond(
            is_jpeg,
            lambda: tf.io.decode_jpeg(raw, channels, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_png(raw, channels))
        x = tf.cast(tf.ensure_shape(pixels, [height, width, channels]), tf.float32) / 255.0
        if pad:
            x = tf.pad(x, [[pad, pad], [pad, pad], [0, 0]])
            x = tf.slice(x, tf.stack([top, left, 0]), [height, width, channels])
        x = tf.cond(flip, lambda: tf.reverse(x, [1]), lambda: x)
        return position, x, label

    def open_epoch(epoch: int, rows: list[np.ndarray]) -> Iterator[tuple[Any, Any, Any]]:
        if not rows:
            return iter(())
        positions = np.concatenate(rows)
        files = source.rows[positions]
        if augment is None:
            top = left = np.zeros(len(positions), np.int64)
            flip = np.zeros(len(positions), bool)
        else:
            top, left, flip = augment.draw(streams.seed, epoch, positions)
        elements = (positions, paths[files], jpeg[files], source.labels[files], top, left, flip)
        with tf.device("/cpu:0"):
            return iter(tf.data.Dataset.from_tensor_slices(elements)
                        .map(load, num_parallel_calls=_parallel(streams), deterministic=True)
                        .batch(len(rows[0]))  # every row is as long, but a short last one
                        .prefetch(tf.data.AUTOTUNE))

    return open_epoch
