"""The input-pipeline figure in one framework (`python -m benchmarks.input_pipeline FRAMEWORK
--pairs N --workers W`, in its own process): images per second through tuitrain's streamed
pipeline against the framework's plain way, over an ImageFolder of generated JPEGs, with the
same workers, batch size and augmentation (pad 4 + random 64x64 crop, random horizontal
flip), one epoch per repetition, in interleaved pairs.

- torch: tuitrain's DataLoader (torch_data.pipeline: one item per step, the batch decoded and
  augmented by `Streams.train_batch` in a worker) against a plain DataLoader over a per-image
  Dataset (Pillow decode, numpy crop and flip, default collation, shuffle), persistent
  workers on both sides;
- tensorflow: tuitrain's tf.data pipeline (tf_data.streamed: for these files, TensorFlow's
  own ops per image with the crop and flip draws of core/augment.py) against a plain
  tf.data pipeline of TensorFlow's own ops (read_file, decode_jpeg, pad, random_crop,
  random_flip_left_right per image, batch, prefetch AUTOTUNE).

Both sides produce float32 channels-last batches of the same shape; what is timed is taking
every batch of the epoch from the pipeline."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from benchmarks.common import emit, median

SIDE = 64  # pixels
PAD = 4
CLASSES = 10
BATCH = 64


def write_folder(root: Path, images: int) -> list[tuple[Path, int]]:
    """An ImageFolder of `images` JPEGs (quality 90), one subfolder per class; returns each
    file with its class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, SIDE, dtype=np.float32)
    files = []
    for i in range(images):
        label = i % CLASSES
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        base = (ramp[None, :, None] * (label + 1) / CLASSES + ramp[:, None, None] / 2) % 256
        noise = rng.normal(0, 20, (SIDE, SIDE, 3))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        files.append((path, label))
    return files


def tuitrain_streams(folder: Path, workers: int):  # -> Streams
    from tuitrain.core.data import load_splits
    from tuitrain.core.spec import DataSpec

    spec = DataSpec(str(folder), stream="always", augment=("crop", "flip"), crop_padding=PAD,
                    workers=workers, val_fraction=0.0, test_fraction=0.0)
    splits = load_splits(spec, seed=0)
    assert splits.streams is not None
    return splits.streams


def epoch_rows(size: int, epoch: int) -> list[np.ndarray]:
    from tuitrain.core.sampler import Sampler

    return list(Sampler(0, size, BATCH).steps(epoch, 0))


def timed(batches: Iterable[tuple]) -> tuple[float, int]:
    """Seconds to take every batch, and the images they held."""
    started, images = time.perf_counter(), 0
    for batch in batches:
        images += len(batch[-1])
    return time.perf_counter() - started, images


def torch_sides(folder: Path, files: list[tuple[Path, int]], workers: int
                ) -> tuple[Callable[[int], Iterable], Callable[[int], Iterable]]:
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    from tuitrain.backends import torch_data

    streams = tuitrain_streams(folder, workers)
    open_epoch = torch_data.pipeline(streams, pin_memory=False)

    class Images(Dataset):
        """The plain way: one image per item, decoded and augmented in the worker."""

        def __len__(self) -> int:
            return len(files)

        def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
            path, label = files[i]
            with Image.open(path) as im:
                x = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
            padded = np.pad(x, ((PAD, PAD), (PAD, PAD), (0, 0)))
            dy, dx = np.random.randint(0, 2 * PAD + 1, size=2)
            x = padded[dy:dy + SIDE, dx:dx + SIDE]
            if np.random.rand() < 0.5:
                x = x[:, ::-1]
            return np.ascontiguousarray(x), label

    plain = DataLoader(Images(), batch_size=BATCH, shuffle=True, num_workers=workers,
                       persistent_workers=workers > 0,
                       generator=torch.Generator().manual_seed(0))

    def ours(epoch: int) -> Iterable:
        return open_epoch(epoch, epoch_rows(len(streams.train), epoch))

    return ours, lambda epoch: plain


def tf_sides(folder: Path, files: list[tuple[Path, int]], workers: int
             ) -> tuple[Callable[[int], Iterable], Callable[[int], Iterable]]:
    import tensorflow as tf

    from tuitrain.backends import tf_data

    streams = tuitrain_streams(folder, workers)
    ours_source = tf_data.streamed(streams)

    def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.image.convert_image_dtype(tf.io.decode_jpeg(tf.io.read_file(path), 3), tf.float32)
        x = tf.pad(x, [[PAD, PAD], [PAD, PAD], [0, 0]])
        x = tf.image.random_flip_left_right(tf.image.random_crop(x, [SIDE, SIDE, 3]))
        return x, label

    paths = [str(p) for p, _ in files]
    labels = [label for _, label in files]
    plain = (tf.data.Dataset.from_tensor_slices((paths, labels))
             .shuffle(len(paths), seed=0)
             .map(load, num_parallel_calls=max(1, workers), deterministic=True)
             .batch(BATCH).prefetch(tf.data.AUTOTUNE))

    def ours(epoch: int) -> Iterable:
        return ours_source.streamed.open_epoch(epoch, epoch_rows(len(streams.train), epoch))

    return ours, lambda epoch: plain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=["torch", "tensorflow"])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=2000)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        files = write_folder(folder, a.images)
        sides = torch_sides if a.framework == "torch" else tf_sides
        ours, plain = sides(folder, files, a.workers)
        timed(ours(0))  # warm-up: workers started, files in the page cache, code loaded
        timed(plain(0))
        rates: dict[str, list[float]] = {"ours": [], "plain": []}
        for pair in range(a.pairs):
            order = [("ours", ours), ("plain", plain)]
            for name, side in order if pair % 2 else order[::-1]:
                seconds, images = timed(side(pair + 1))
                rates[name].append(images / seconds)
    ratios = [o / p for o, p in zip(rates["ours"], rates["plain"], strict=True)]
    emit({"framework": a.framework, "workers": a.workers, "images": a.images,
          "ours": rates["ours"], "plain": rates["plain"], "ratios": ratios,
          "ours_median": median(rates["ours"]), "plain_median": median(rates["plain"])})


if __name__ == "__main__":
    main()
