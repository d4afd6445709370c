"""A person's own model file and fine-tuning, framework-free: the spec's `[model] file`,
the run folder's copy and hash, the ownership check, `train.freeze` names of a preset,
weight matching by name and shape, `--init-from` resolution, and the setup screen's model
choice. Training with each framework is in test_own_model_torch / test_own_model_keras."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from tuitrain.core import model_file, validate
from tuitrain.core.errors import UserError
from tuitrain.core.finetune import match_weights, resolve_init
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import ModelFile
from tuitrain.ui.settings import Settings

MODEL = "def build_model(input_shape, num_outputs):\n    return None\n"


def test_model_file_takes_the_place_of_the_layers(tmp_path: Path) -> None:
    spec = load_spec("mlp-digits", {"model.file": "net.py"})
    assert spec.model_file == ModelFile("net.py") and spec.layers == ()
    info, summary = validate.check(spec)
    assert summary is None and info.input_shape == (8, 8, 1)
    assert spec.to_document()["model"] == {"file": "net.py"}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"model.file": "net.txt"}, "model.file must be a .py file defining build_model"),
        ({"model.layers": []}, "unknown key in [model] to set 'layers'; valid: file"),
        ({"train.freeze": [1]}, "train.freeze must be a list of strings"),
        ({"train.freeze": ["9"]}, "no layer '9' in the preset"),
    ],
)
def test_bad_model_settings_are_one_line(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(UserError) as caught:
        validate.check(load_spec("mlp-digits", overrides))
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_freeze_name_lists_the_layers() -> None:
    with pytest.raises(UserError, match=r"index \(0-4\) or label: flatten_0, dense_1"):
        validate.check(load_spec("mlp-digits", {"train.freeze": ["dense_9"]}))


@pytest.mark.parametrize("name", ["1", "dense_1"])
def test_frozen_layers_count_as_non_trainable(name: str) -> None:
    _, whole = validate.check(load_spec("mlp-digits", {}))
    _, summary = validate.check(load_spec("mlp-digits", {"train.freeze": [name]}))
    assert whole is not None and summary is not None
    assert summary.params == whole.params - 8320 and summary.non_trainable == 8320
    assert "non-trainable params: 8,320" in summary.lines()
    assert summary.rows[1].note == "frozen"


RESIDUAL = """
name = "residual-digits"
task = "classification"
[data]
dataset = "digits"
[model]
layers = [
  { type = "flatten" },
  { type = "dense", units = 16 },
  { type = "residual", layers = [{ type = "dense", units = 16 }, { type = "batchnorm" }] },
  { type = "dense", units = "auto" },
]
[train]
loss = "cross_entropy"
"""


def test_a_frozen_block_freezes_what_it_holds(tmp_path: Path) -> None:
    preset = tmp_path / "residual.toml"
    preset.write_text(RESIDUAL)
    _, whole = validate.check(load_spec(str(preset), {}))
    _, summary = validate.check(load_spec(str(preset), {"train.freeze": ["residual_2"]}))
    assert whole is not None and summary is not None
    block = summary.rows[2]
    assert len(block.children) == 2 and all(r.params == 0 for r in block.walk())
    # dense 16x16 + 16, batch norm's scale and offset; its moving statistics were already
    assert summary.non_trainable - whole.non_trainable == 16 * 16 + 16 + 2 * 16
    assert summary.params == whole.params - (16 * 16 + 16 + 2 * 16)


def test_weights_match_by_name_and_shape() -> None:
    match = match_weights(
        {"a": (2, 3), "b": (4,), "old": (1,)}, {"a": (2, 3), "b": (4,), "new": (5,)}, "ckpt"
    )
    assert match.loaded == ("a", "b") and match.fresh == ("new",) and match.unused == ("old",)
    assert match.describe("ckpt") == (
        "initialized 2 weights from ckpt; trained from scratch: new; not used: old"
    )
    with pytest.raises(UserError, match=r"differ in shape .*: b \(4,\) vs \(3,\), c \(1,\) vs"):
        match_weights({"a": (1,), "b": (4,), "c": (1,)}, {"a": (1,), "b": (3,), "c": (2,)}, "x")
    with pytest.raises(
        UserError,
        match=r"no weight of this model is in it by name; this "
        r"model: x; the checkpoint: y",
    ):
        match_weights({"y": (1,)}, {"x": (1,)}, "ckpt")


def test_the_run_folder_keeps_a_copy_and_its_hash(tmp_path: Path) -> None:
    source = tmp_path / "net.py"
    source.write_text(MODEL)
    spec = load_spec("mlp-digits", {"model.file": str(source)})
    run = RunDir.create(tmp_path / "runs", spec)
    assert "-net-torch" in run.id
    assert (run.path / "model.py").read_text() == MODEL
    stored = tomllib.loads(run.config.read_text())["model"]
    assert stored == {"file": "model.py", "sha256": model_file.sha256(MODEL.encode())}
    read = run.read_spec()
    assert read.model_file == ModelFile(str(run.path / "model.py"), stored["sha256"])
    run.write_spec(read)  # the copy stays named relative to the folder
    assert tomllib.loads(run.config.read_text())["model"] == stored
    source.write_text("changed")  # the run builds from its copy, not from the original
    assert model_file.verify(run.read_spec().model_file) == run.path / "model.py"


def test_a_missing_model_file_leaves_no_run_folder(tmp_path: Path) -> None:
    spec = load_spec("mlp-digits", {"model.file": str(tmp_path / "gone.py")})
    with pytest.raises(UserError, match=r"model file '.*gone.py': cannot read it"):
        RunDir.create(tmp_path / "runs", spec)
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_changed_copy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(MODEL + "# edited\n")
    with pytest.raises(UserError, match="changed since the run started"):
        model_file.verify(ModelFile(str(path), model_file.sha256(MODEL.encode())))


def test_another_users_copy_runs_only_when_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    monkeypatch.setattr(os, "getuid", lambda: path.stat().st_uid + 1)
    monkeypatch.setenv(model_file.TRUST_ENV, "0")  # restored after the test
    with pytest.raises(UserError, match=r"belongs to another user .* pass --trust-model-code"):
        model_file.verify(ModelFile(str(path)))
    model_file.trust()
    assert model_file.verify(ModelFile(str(path))) == path


def test_input_shape_per_framework() -> None:
    assert model_file.input_shape_for("torch", (8, 8, 1)) == (1, 8, 8)
    assert model_file.input_shape_for("keras", (8, 8, 1)) == (8, 8, 1)
    assert model_file.input_shape_for("torch", (8, 3)) == (8, 3)
    assert "channels-first (C, H, W)" in model_file.expects("torch")
    assert "channels-last (H, W, C)" in model_file.expects("tensorflow")


def test_model_files_are_found_in_the_folder_and_models(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(MODEL)
    (tmp_path / "helper.py").write_text("x = 1\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "b.py").write_text(MODEL)
    assert model_file.discover(tmp_path) == [Path("a.py"), Path("models/b.py")]


def test_init_from_resolves_a_run_or_refuses(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    source = RunDir.create(runs, load_spec("mlp-digits", {}))
    keras = load_spec("mlp-digits", {"run.framework": "keras", "train.init_from": source.id})
    with pytest.raises(UserError, match="trained with torch; weights load into the same "):
        resolve_init(keras, runs)
    torch = load_spec("mlp-digits", {"train.init_from": source.id})
    with pytest.raises(UserError, match="has no complete checkpoint"):
        resolve_init(torch, runs)
    ckpt = source.checkpoints / "ckpt-e0001-s000000010.pt"
    ckpt.write_bytes(b"weights")
    resolved = resolve_init(load_spec("mlp-digits", {"train.init_from": str(ckpt)}), runs)
    assert resolved.train.init_from == str(ckpt.resolve())
    with pytest.raises(UserError, match="no such checkpoint"):
        resolve_init(load_spec("mlp-digits", {"train.init_from": "gone.pt"}), runs)
    assert resolve_init(load_spec("mlp-digits", {}), runs).train.init_from == ""


def test_the_setup_screen_offers_model_files() -> None:
    assert not Settings()["model"].shown  # no model files: the screen is as before
    settings = Settings(model_files=[Path("net.py"), Path("models/other.py")])
    assert settings["model"].shown
    assert [v for _, v in settings["model"].options] == ["", "net.py", "models/other.py"]
    settings.load(load_spec("mlp-digits", {}))
    assert "model.file" not in settings.values()[0]
    assert settings.choose("model", "models/other.py")
    assert settings.values()[0]["model.file"] == "models/other.py"
    assert settings.set_value("model.file", "elsewhere/net.py")  # a CLI pre-fill
    assert settings["model"].value == "elsewhere/net.py"
