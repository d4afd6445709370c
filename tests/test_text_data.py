"""Character-level text (`chars`, a text file, a folder of text files): the windows are the
corpus cut contiguously with the next character as each position's target, the same for the
same settings; the vocabulary and split are recorded in `preprocessing.json` and read back
equal; the default corpus is the Python standard library's source, capped; mistakes are
one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tuitrain.core import preprocessing, text
from tuitrain.core.data import Splits, load_splits, text_model_splits
from tuitrain.core.datainfo import dataset_info
from tuitrain.core.datasets import own_data_name
from tuitrain.core.errors import UserError
from tuitrain.core.presets import load_spec
from tuitrain.core.spec import DataSpec

WORDS = "".join(f"line {i:03d}: to be or not\n" for i in range(40))


def _splits(dataset: str, seed: int = 0, **kw: object) -> Splits:
    return load_splits(DataSpec(dataset, **kw), seed)  # type: ignore[arg-type]


def _whole(s: Splits) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([s.x_train, s.x_val, s.x_test]), np.concatenate(
        [s.y_train, s.y_val, s.y_test]
    )


@pytest.fixture
def words(tmp_path: Path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text(WORDS, encoding="utf-8")
    return path


def test_windows_are_the_text_cut_contiguously_with_the_next_character_as_target(
    words: Path,
) -> None:
    s = _splits(str(words), block_size=16)
    vocabulary = s.preprocessing.vocabulary
    assert vocabulary is not None and vocabulary.chars == "".join(sorted(set(WORDS)))
    x, y = _whole(s)
    n = (len(WORDS) - 1) // 16
    assert x.shape == y.shape == (n, 16) and x.dtype == y.dtype == np.int64
    assert (y[:, :-1] == x[:, 1:]).all()  # each target is the next character
    cut = sorted(
        vocabulary.decode([*row, last])
        for row, last in zip(x.tolist(), y[:, -1].tolist(), strict=True)
    )
    assert cut == sorted(WORDS[i * 16 : i * 16 + 17] for i in range(n))  # each window once
    info = s.info
    assert info == dataset_info(DataSpec(str(words), block_size=16))
    assert (info.input_shape, info.target_shape) == ((16,), (16,))
    assert info.num_outputs == len(vocabulary.chars) and "\\n" in info.class_names


def test_the_same_settings_give_the_same_windows_and_the_seed_draws_the_split(
    words: Path,
) -> None:
    first, again, other = _splits(str(words)), _splits(str(words)), _splits(str(words), seed=1)
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(first, part), getattr(again, part))
    assert not np.array_equal(first.x_val, other.x_val)
    assert sorted(map(tuple, _whole(first)[0])) == sorted(map(tuple, _whole(other)[0]))
    assert first.preprocessing.vocabulary == again.preprocessing.vocabulary
    counts = (len(first.x_train), len(first.x_val), len(first.x_test))
    assert first.preprocessing.vocabulary is not None
    assert first.preprocessing.vocabulary.windows == counts


def test_vocabulary_and_split_round_trip_through_the_run_folder(
    words: Path, tmp_path: Path
) -> None:
    s = _splits(str(words), block_size=8, samples=30)
    path = tmp_path / preprocessing.FILE
    preprocessing.write(path, s.preprocessing)
    doc = json.loads(path.read_text())
    assert doc["vocabulary"]["split"] == {"seed": 0, "train": 22, "val": 4, "test": 4}
    assert doc["vocabulary"]["block_size"] == 8
    back = preprocessing.read(path)
    assert back == s.preprocessing and back.vocabulary is not None
    ids = back.vocabulary.encode("to be or not\n")
    assert back.vocabulary.decode(ids) == "to be or not\n"
    # Resuming with the saved vocabulary gives the same splits; a changed text is refused.
    again = load_splits(DataSpec(str(words), block_size=8, samples=30), 0, saved=back)
    assert np.array_equal(again.x_train, s.x_train)
    words.write_text(WORDS.replace("line 000", "Line 000!"), encoding="utf-8")  # new size
    with pytest.raises(UserError, match=r"not the text the run was trained on"):
        load_splits(DataSpec(str(words), block_size=8, samples=30), 0, saved=back)


def test_a_model_can_be_built_from_the_vocabulary_alone(words: Path) -> None:
    s = _splits(str(words), block_size=8)
    assert s.preprocessing.vocabulary is not None
    empty = text_model_splits(s.preprocessing.vocabulary, str(words))
    info = empty.info
    assert (info.input_shape, info.target_shape, info.num_outputs, info.class_names) == (
        s.info.input_shape, s.info.target_shape, s.info.num_outputs, s.info.class_names,
    )  # fmt: skip
    assert empty.x_train.shape == (0, 8) and empty.preprocessing == s.preprocessing


def test_an_unknown_character_is_a_one_line_error(words: Path) -> None:
    vocabulary = _splits(str(words)).preprocessing.vocabulary
    assert vocabulary is not None
    with pytest.raises(UserError, match=r"^'€' is not in the run's vocabulary \(\d+ characters"):
        vocabulary.encode("to €")


def test_a_folder_of_text_files_is_read_in_path_order_and_images_stay_images(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "notes"
    (corpus / "b").mkdir(parents=True)
    (corpus / "a.txt").write_text("alpha\n" * 20)
    (corpus / "b" / "c.md").write_text("gamma\n" * 20)
    (corpus / ".hidden.txt").write_text("secret\n" * 20)
    (corpus / "b" / "ignored.csv").write_text("x,y\n1,2\n")
    assert text.is_text_source(str(corpus))
    c = text.corpus(DataSpec(str(corpus), block_size=10))
    assert c.text == ("alpha\n" * 20 + "gamma\n" * 20)[: c.windows * 10 + 1]
    assert own_data_name(DataSpec(str(corpus))) == "notes"
    images = tmp_path / "images" / "cat"
    images.mkdir(parents=True)
    (images / "one.png").write_bytes(b"")
    (images / "readme.txt").write_text("cats")
    assert not text.is_text_source(str(tmp_path / "images"))
    assert not text.is_text_source(str(tmp_path / "missing.csv"))


def test_the_default_corpus_is_the_standard_librarys_source_capped() -> None:
    c = text.corpus(DataSpec("chars"))
    assert "standard library" in c.source and str(text.stdlib_folder()) in c.source
    assert len(c.text) <= text.STDLIB_CHARS and c.windows == (len(c.text) - 1) // 64
    assert "def " in c.text and "import " in c.text
    info = dataset_info(DataSpec("chars", block_size=32, samples=100))
    assert (info.size, info.input_shape, info.name) == (100, (32,), "chars")


def test_the_preset_trains_on_your_text_with_data(words: Path) -> None:
    spec = load_spec("transformer-chars", {"data.dataset": str(words)})
    info = dataset_info(spec.data)
    assert info.num_outputs == len(set(WORDS)) and info.input_shape == (64,)
    assert own_data_name(spec.data) == "words"


@pytest.mark.parametrize(
    ("content", "data", "message"),
    [
        (b"\xff\xfe not utf-8", {}, r"words\.txt: not UTF-8 text \(byte 0xff at offset 0\); "),
        (b"too short", {}, r"9 characters make no window of 64 characters and its next one"),
        (WORDS.encode(), {"samples": 999}, r"holds 14 windows of 64 characters; data.samples "),
    ],
)
def test_bad_text_is_a_one_line_error(
    tmp_path: Path, content: bytes, data: dict[str, int], message: str
) -> None:
    path = tmp_path / "words.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as caught:
        dataset_info(DataSpec(str(path), **data))  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_block_size_belongs_to_text() -> None:
    owner = r"text data \(chars, a text file or a folder of text files\)"
    with pytest.raises(
        UserError, match=rf"^data.block_size is a setting of {owner}; dataset 'moons'"
    ):
        dataset_info(DataSpec("moons", block_size=8))
    with pytest.raises(UserError, match=r"^data.digits is a setting of generated tasks "
                       r"\(addition\); dataset 'chars' has none$"):  # fmt: skip
        dataset_info(DataSpec("chars", digits=2))
    with pytest.raises(UserError, match=r"data.block_size must be in \[1, 4096\], got 0"):
        load_spec("transformer-chars", {"data.block_size": 0})
