"""A streamed image folder: scanned without decoding, decoded a batch at a time into exactly
the samples the in-memory loader gives; bad folders are one-line errors before anything is
written (no ML framework)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, run_folders

from tuitrain.core import image_folder
from tuitrain.core.data import Splits, load_splits
from tuitrain.core.datainfo import dataset_info
from tuitrain.core.errors import UserError
from tuitrain.core.spec import DataSpec

Image = pytest.importorskip("PIL.Image")


def _folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (6, 4)) -> Path:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_a_streamed_folder_gives_the_in_memory_samples(tmp_path: Path) -> None:
    path = _folder(tmp_path / "pets", {"cat": 7, "dog": 5, "eel": 8})
    whole = load_splits(DataSpec(str(path), stream="never"), seed=2)
    streamed = load_splits(DataSpec(str(path), stream="always"), seed=2)
    assert whole.streams is None and streamed.streams is not None
    assert streamed.info == whole.info and whole.info.input_shape == (4, 6, 3)
    assert whole.info.class_names == ("cat", "dog", "eel")
    for part in ("train", "val", "test"):
        source = streamed.streams.split(part)
        x, y = source.get(np.arange(len(source))[::-1].copy())
        np.testing.assert_array_equal(x, getattr(whole, f"x_{part}")[::-1])
        np.testing.assert_array_equal(y, getattr(whole, f"y_{part}")[::-1])
        assert x.dtype == np.float32 and y.dtype == np.int64


def test_gray_folders_have_one_channel(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("L", (5, 5), 10 * i).save(tmp_path / name / f"{i}.png")
    info = dataset_info(DataSpec(str(tmp_path), stream="always"))
    assert info.input_shape == (5, 5, 1)
    spec = DataSpec(str(tmp_path), stream="always", val_fraction=0, test_fraction=0)
    splits = load_splits(spec, 0)
    x, _ = splits.streams.train.get(np.arange(6))  # type: ignore[union-attr]
    assert x.shape == (6, 5, 5, 1) and sorted(np.unique(x * 255).round()) == [0, 10, 20]


def _error(path: Path, stream: str) -> str:
    with pytest.raises(UserError) as exc:
        dataset_info(DataSpec(str(path), stream=stream))  # type: ignore[arg-type]
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("stream", ["never", "always"])
def test_bad_folders_are_one_line_errors(tmp_path: Path, stream: str) -> None:
    one = _folder(tmp_path / "one", {"cat": 3})
    assert "images of one class only ('cat'); an image folder needs" in _error(one, stream)
    broken = _folder(tmp_path / "broken", {"cat": 2, "dog": 2})
    (broken / "dog" / "1.png").write_bytes(b"not a png")
    assert _error(broken, stream).startswith(f"{broken / 'dog' / '1.png'}: cannot read it")


def _same_samples(whole: Splits, streamed: Splits) -> None:
    assert whole.streams is None and streamed.streams is not None
    assert streamed.info == whole.info
    for part in ("train", "val", "test"):
        source = streamed.streams.split(part)
        x, y = source.get(np.arange(len(source)))
        np.testing.assert_array_equal(x, getattr(whole, f"x_{part}"))
        np.testing.assert_array_equal(y, getattr(whole, f"y_{part}"))


def test_images_of_several_sizes_load_at_one_size(tmp_path: Path) -> None:
    """A folder of mixed sizes is resized to 32x32 by default and to `data.image_size` when
    set, the same way streamed as loaded whole."""
    path = _folder(tmp_path / "sizes", {"cat": 2, "dog": 2})
    Image.new("RGB", (9, 7)).save(path / "dog" / "odd.png")
    for size, side in ((None, 32), (12, 12)):
        whole = load_splits(DataSpec(str(path), stream="never", image_size=size), seed=1)
        streamed = load_splits(DataSpec(str(path), stream="always", image_size=size), seed=1)
        assert whole.info.input_shape == (side, side, 3)
        _same_samples(whole, streamed)


def test_image_size_is_a_setting_of_image_folders(tmp_path: Path) -> None:
    for dataset in ("digits", str(tmp_path / "x.npz")):
        np.savez(tmp_path / "x.npz", x=np.zeros((4, 3)), y=np.arange(4))
        with pytest.raises(UserError, match=r"data\.image_size is a setting of image folders"):
            dataset_info(DataSpec(dataset, image_size=16))


def test_the_scan_reads_headers_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanning decodes nothing: a folder whose pixel data is cut short scans (and says how
    many images it holds); only decoding the batch that holds the image fails."""
    path = _folder(tmp_path / "cut", {"cat": 2, "dog": 2}, size=(64, 64))
    image = path / "dog" / "1.png"
    image.write_bytes(image.read_bytes()[:200])
    assert dataset_info(DataSpec(str(path), stream="always")).size == 4
    decoded: list[Path] = []
    real = image_folder._decode
    monkeypatch.setattr(
        image_folder, "_decode", lambda files, *a: decoded.extend(files) or real(files, *a)
    )
    splits = load_splits(DataSpec(str(path), stream="always", val_fraction=0, test_fraction=0), 0)
    assert decoded == []
    source = splits.streams.train  # type: ignore[union-attr]
    rows = list(source.rows)  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="cannot read it"):
        source.get(np.array([rows.index(3)]))


def test_the_cli_refuses_a_bad_folder_before_creating_a_run(tmp_path: Path) -> None:
    one = _folder(tmp_path / "one", {"cat": 3})
    runs = tmp_path / "runs"
    out = run_cli("train", "-p", "cnn-digits", "--data", str(one), runs_dir=runs)
    assert_one_line_error(out, "images of one class only")
    assert run_folders(runs) == []
