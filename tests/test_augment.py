"""Seeded augmentation (core/augment.py) and the streamed splits load_splits gives
(core/sources.py): every draw a function of (seed, epoch, sample index) only."""

from __future__ import annotations

import numpy as np
import pytest

from tuitrain.core.augment import Augment, draws
from tuitrain.core.data import load_splits
from tuitrain.core.errors import UserError
from tuitrain.core.sampler import Sampler
from tuitrain.core.spec import DataSpec

IMAGES = np.arange(6 * 5 * 4 * 2, dtype=np.float32).reshape(6, 5, 4, 2) + 1  # no zeros


def test_draws_depend_on_seed_epoch_index_and_stream_only() -> None:
    index = np.array([3, 0, 7, 3])
    a = draws(1, 2, index, 0)
    assert a[0] == a[3]  # the same sample, the same draw, wherever it sits in the batch
    assert np.array_equal(a[[1, 2]], draws(1, 2, np.array([0, 7]), 0))
    for other in (draws(2, 2, index, 0), draws(1, 3, index, 0), draws(1, 2, index, 1)):
        assert not np.any(other == a)


def test_crop_is_the_padded_image_at_the_drawn_offset() -> None:
    aug = Augment(crop=2)
    index = np.arange(6)
    out = aug.apply(IMAGES, seed=0, epoch=0, index=index)
    assert out.shape == IMAGES.shape and out.dtype == IMAGES.dtype
    bits = draws(0, 0, index, 0)
    padded = np.pad(IMAGES, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for i in range(6):
        dy, dx = int(bits[i] % np.uint64(5)), int((bits[i] >> np.uint64(32)) % np.uint64(5))
        assert np.array_equal(out[i], padded[i, dy : dy + 5, dx : dx + 4])


def test_flip_mirrors_the_width_of_about_half_the_images() -> None:
    x = np.repeat(IMAGES[:1], 400, axis=0)
    index = np.arange(400)
    out = Augment(flip=True).apply(x, seed=5, epoch=1, index=index)
    flipped = np.array([np.array_equal(o, x[0][:, ::-1]) for o in out])
    kept = np.array([np.array_equal(o, x[0]) for o in out])
    assert np.all(flipped | kept) and 150 < flipped.sum() < 250
    assert np.array_equal(x, np.repeat(IMAGES[:1], 400, axis=0))  # the input is not changed


def test_a_sample_gets_the_same_tensor_in_any_batch_and_another_one_next_epoch() -> None:
    aug = Augment(crop=2, flip=True)
    whole = aug.apply(IMAGES, 0, 4, np.arange(6))
    part = aug.apply(IMAGES[[5, 1]], 0, 4, np.array([5, 1]))
    assert np.array_equal(part, whole[[5, 1]])
    assert not np.array_equal(aug.apply(IMAGES, 0, 5, np.arange(6)), whole)


def test_augmentation_applies_to_images_only() -> None:
    with pytest.raises(UserError, match="applies to images"):
        load_splits(DataSpec("moons", augment=("flip",)), seed=0)
    with pytest.raises(UserError, match='stream = "never" turns off'):
        load_splits(DataSpec("digits", augment=("flip",), stream="never"), seed=0)


def test_streamed_splits_hold_the_in_memory_samples() -> None:
    whole = load_splits(DataSpec("digits"), seed=3)
    streamed = load_splits(DataSpec("digits", stream="always", workers=0), seed=3)
    streams = streamed.streams
    assert whole.streams is None and streams is not None
    assert streamed.sizes == whole.sizes and len(streamed.x_train) == 0
    assert streamed.x_train.shape[1:] == whole.x_train.shape[1:]
    rows = np.array([4, 0, 9])
    for name, x, y in (
        ("train", whole.x_train, whole.y_train),
        ("test", whole.x_test, whole.y_test),
    ):
        got_x, got_y = streams.split(name).get(rows)
        assert np.array_equal(got_x, x[rows]) and np.array_equal(got_y, y[rows])
    assert streams.augment is None and streams.workers == 0
    x, _ = streams.train_batch(0, rows)
    assert np.array_equal(x, whole.x_train[rows])


def test_augmented_training_batches_are_seeded_by_the_run() -> None:
    spec = DataSpec("digits", augment=("crop", "flip"), crop_padding=1)
    streams = load_splits(spec, seed=3).streams
    assert streams is not None and streams.augment == Augment(crop=1, flip=True)
    rows = np.arange(8)
    a = streams.train_batch(0, rows)[0]
    assert np.array_equal(a, load_splits(spec, seed=3).streams.train_batch(0, rows)[0])
    raw = streams.train.get(rows)[0]
    assert np.array_equal(a, Augment(crop=1, flip=True).apply(raw, 3, 0, rows))


def test_sampler_steps_are_its_rows_from_a_step_on() -> None:
    sampler = Sampler(seed=1, num_samples=10, batch_size=3)
    rows = list(sampler.steps(epoch=2, start=1))
    assert len(rows) == sampler.steps_per_epoch - 1
    for step, row in enumerate(rows, 1):
        assert np.array_equal(row, sampler.rows(2, step, 1)[0])
