"""A person's own model file (`tuitrain train --model my_model.py`): finding such files for
the setup screen, the run folder's copy and its hash, the ownership check before running a
copy, and the input layout each framework's `build_model(input_shape, num_outputs)` gets.

Framework-free: importing the file (which runs its code and imports its framework) is the
backends' job (`tuitrain.backends.user_model`)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path

from tuitrain.core.atomic import write_atomic
from tuitrain.core.errors import UserError
from tuitrain.core.spec import ModelFile, RunSpec

COPY = "model.py"  # the run folder's copy of the file
MODELS_DIR = "models"  # besides the working directory, where the setup screen looks
TRUST_FLAG = "--trust-model-code"
# Set (to "1") by TRUST_FLAG for this process and the runner and checks it starts.
TRUST_ENV = "TUITRAIN_TRUST_MODEL_CODE"
_DEFINES = re.compile(r"^def build_model\s*\(", re.MULTILINE)

# What `build_model` receives as `input_shape` (one sample, no batch axis), per framework.
LAYOUTS: dict[str, str] = {
    "torch": "torch gets images channels-first (C, H, W)",
    "tensorflow": "TensorFlow gets images channels-last (H, W, C)",
    "keras": "Keras gets images channels-last (H, W, C)",
}
OTHER_INPUTS = "sequences (steps, features), tables (features,)"


def input_shape_for(framework: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The `input_shape` a framework's `build_model` receives: tuitrain states images
    channels-last (H, W, C); torch takes them channels-first (C, H, W)."""
    if framework == "torch" and len(shape) == 3:
        return (shape[2], shape[0], shape[1])
    return tuple(shape)


def expects(framework: str) -> str:
    """What a file must define and return, for errors: one phrase."""
    returns = "a torch.nn.Module" if framework == "torch" else "a keras.Model"
    return (
        f"build_model(input_shape, num_outputs) returning {returns} that outputs raw "
        f"scores (logits); {LAYOUTS[framework]}, {OTHER_INPUTS}"
    )


def discover(folder: Path) -> list[Path]:
    """`*.py` files in `folder` and its `models/` that define `build_model`, for the setup
    screen; paths relative to `folder`."""
    found = []
    for where in (folder, folder / MODELS_DIR):
        for path in sorted(where.glob("*.py")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if _DEFINES.search(text):
                found.append(path.relative_to(folder))
    return found


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read(path: Path) -> bytes:
    """The file's bytes; a missing or unreadable one is a UserError naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(
            f"model file {str(path)!r}: cannot read it ({exc.strerror or exc})"
        ) from None


def copy_into(folder: Path, spec: RunSpec) -> RunSpec:
    """Copy a spec's model file into a new run folder; returns the spec naming the copy
    (relative to the folder) and its hash. Resume, eval and export build from that copy."""
    if spec.model_file is None:
        return spec
    data = read(Path(spec.model_file.file))
    write_atomic(folder / COPY, data)
    return replace(spec, model_file=ModelFile(COPY, sha256(data)))


def trust() -> None:
    """`--trust-model-code`: model files owned by another user may run, in this process and
    the processes it starts."""
    os.environ[TRUST_ENV] = "1"


def verify(model: ModelFile) -> Path:
    """The file to import for a run, checked: its hash is the one recorded when the run
    started, and a copy owned by another user (a shared runs folder) runs only when the
    person said they trust it (`trust()`)."""
    path = Path(model.file)
    data = read(path)
    if model.sha256 and sha256(data) != model.sha256:
        raise UserError(
            f"{path}: changed since the run started (sha256 {sha256(data)[:12]}…, recorded "
            f"{model.sha256[:12]}…); the run builds only from the file it started with"
        )
    owner = path.stat().st_uid
    if owner != os.getuid() and os.environ.get(TRUST_ENV) != "1":
        raise UserError(
            f"{path}: this model file belongs to another user (uid {owner}) and is code that "
            f"runs; read it, then pass {TRUST_FLAG} to run it"
        )
    return path
