"""TensorFlow's pipeline for streamed image folders: where the files are JPEG or PNG images at
the size and mode they load at, TensorFlow decodes, crops and flips them itself, and every
batch of an epoch (resumed mid-epoch too) is bit for bit the batch that Pillow's decoding and
numpy's augmentation give (the other frameworks' batches). TensorFlow runs in a child
process, never in pytest's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_env, requires_tensorflow

pytestmark = [
    pytest.mark.tensorflow,
    requires_tensorflow,
]
Image = pytest.importorskip("PIL.Image")

# In a child: for each epoch and first step, every batch of TensorFlow's pipeline against
# Streams.train_batch; prints whether the files were decoded by TensorFlow and the batches
# that differ.
COMPARE = """
import json, sys
import numpy as np
from tuitrain.backends import tf_data
from tuitrain.core.data import load_splits
from tuitrain.core.sampler import Sampler
from tuitrain.core.spec import DataSpec

spec = DataSpec(sys.argv[1], stream="always", augment=("crop", "flip"), crop_padding=3,
                workers=2)
streams = load_splits(spec, seed=5).streams
source = tf_data.streamed(streams)
sampler = Sampler(5, len(streams.train), 7)
differ = []
for epoch, start in ((0, 0), (1, 2)):
    rows = list(sampler.steps(epoch, start))
    source.start_epoch(epoch, iter(rows))
    for step, row in enumerate(rows):  # the short last batch too
        ((x, y),) = source.streamed.stage(row[None])
        want_x, want_y = streams.train_batch(epoch, row)
        if not (np.array_equal(x.numpy(), want_x) and np.array_equal(y.numpy(), want_y)):
            differ.append([epoch, start + step])
print(json.dumps({"tensorflow_decodes": streams.train.as_stored, "differ": differ}))
"""


def folder(root: Path, suffix: str, mode: str, sizes: list[tuple[int, int]]) -> Path:
    rng = np.random.default_rng(1)
    for label in ("a", "b", "c"):
        (root / label).mkdir(parents=True)
        for i in range(15):
            w, h = sizes[i % len(sizes)]
            channels = (h, w) if mode == "L" else (h, w, 3)
            pixels = rng.integers(0, 256, channels, dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / label / f"{i}{suffix}", quality=85)
    return root


@pytest.mark.parametrize(
    ("suffix", "mode", "sizes", "decoded_by_tensorflow"),
    [
        (".jpg", "RGB", [(12, 10)], True),
        (".png", "L", [(12, 10)], True),
        (".jpg", "RGB", [(12, 10), (9, 14)], False),  # resized: Pillow decodes
    ],
    ids=["jpeg-rgb", "png-gray", "jpeg-resized"],
)
def test_tensorflow_batches_equal_the_numpy_ones(
    tmp_path: Path, suffix: str, mode: str, sizes: list[tuple[int, int]],
    decoded_by_tensorflow: bool,
) -> None:
    path = folder(tmp_path / "images", suffix, mode, sizes)
    out = subprocess.run([sys.executable, "-c", COMPARE, str(path)], capture_output=True,
                         text=True, env=cli_env(), timeout=240, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"tensorflow_decodes": decoded_by_tensorflow, "differ": []}
