"""A person's own model file, as the backends run it: importing it (its hash and owner
checked first, `core.model_file.verify`) and calling its `build_model(input_shape,
num_outputs)`, every failure one line naming the file and what was expected.

`check(spec)` asks a child process (`python -m tuitrain.backends.user_model`, the spec's
framework alone in it) to build the model and say whether it fits the data, before a run
folder exists: the output shape, `train.freeze` names and `--init-from` weights. The caller
imports no framework."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from tuitrain.core import model_file
from tuitrain.core.errors import UserError
from tuitrain.core.spec import ModelFile, RunSpec


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"


def load_builder(model: ModelFile, framework: str) -> Callable[..., Any]:
    """The file's `build_model`, imported from the (verified) file."""
    path = model_file.verify(model)
    expected = model_file.expects(framework)
    module_spec = importlib.util.spec_from_file_location(f"tuitrain_model_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise UserError(f"{path}: not a Python file; expected {expected}")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:  # SyntaxError, ImportError, SystemExit: all the file's doing
        raise UserError(
            f"{path}: does not import ({_first_line(exc)}); expected {expected}"
        ) from None
    build = getattr(module, "build_model", None)
    if not callable(build):
        raise UserError(f"{path}: defines no build_model; expected {expected}")
    return build


def build(
    model: ModelFile,
    framework: str,
    input_shape: tuple[int, ...],
    num_outputs: int,
    kind: type,
    kind_name: str,
) -> Any:
    """Call the file's `build_model`; what it returns must be a `kind` (named `kind_name`)."""
    builder = load_builder(model, framework)
    call = f"build_model({input_shape}, {num_outputs})"
    try:
        built = builder(input_shape, num_outputs)
    except Exception as exc:
        raise UserError(
            f"{model.file}: {call} raised {_first_line(exc)}; expected "
            f"{model_file.expects(framework)}"
        ) from None
    if not isinstance(built, kind):
        raise UserError(
            f"{model.file}: {call} returned {type(built).__name__}; {framework} "
            f"expects a {kind_name} ({model_file.LAYOUTS[framework]})"
        )
    return built


def does_not_run(
    model: ModelFile, framework: str, shape: tuple[int, ...], exc: BaseException
) -> UserError:
    """The error for a built model that fails on a batch of the data's input shape."""
    return UserError(
        f"{model.file}: the model does not run on input of shape (N, *{shape}) "
        f"({_first_line(exc)}); expected {model_file.expects(framework)}"
    )


def check_output(model: ModelFile, got: tuple[int, ...], needed: tuple[int, ...]) -> None:
    """The model's output per sample must be what the loss needs."""
    if tuple(got) != tuple(needed):
        raise UserError(
            f"{model.file}: the model outputs shape {tuple(got)} per sample; the "
            f"loss on this data needs {tuple(needed)} (raw scores, no softmax)"
        )


def check(spec: RunSpec, resume: bool = False, timeout: float = 300.0) -> tuple[int, int]:
    """Build the spec's model in a child process with its framework and check it against
    the data (and, for a new run, the `--init-from` weights); returns its trainable and
    non-trainable parameter counts, or a UserError says what is wrong."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if spec.run.framework == "keras":
        env["KERAS_BACKEND"] = spec.run.keras_backend
    request = json.dumps({"spec": spec.to_document(), "resume": resume})
    try:
        out = subprocess.run(
            [sys.executable, "-m", "tuitrain.backends.user_model"],
            input=request,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UserError(
            f"checking the model in {spec.run.framework} took over {timeout:g} s"
        ) from None
    try:
        answer = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"checking the model in {spec.run.framework} failed: {last}") from None
    if answer.get("error"):
        raise UserError(answer["error"])
    return int(answer["params"]), int(answer["non_trainable"])


def main() -> int:
    """The child's side of `check`: the request on stdin, one JSON line on stdout."""
    from tuitrain import backends
    from tuitrain.core import validate
    from tuitrain.core.presets import spec_from_document

    request = json.loads(sys.stdin.read())
    try:
        spec = spec_from_document(request["spec"], source="<check>")
        info, _ = validate.check(spec)
        backend = backends.load(spec.run.framework)
        trainable, frozen = backend.check_model(spec, info, init=not request["resume"])
        answer: dict[str, Any] = {"params": trainable, "non_trainable": frozen}
    except UserError as exc:
        answer = {"error": str(exc)}
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
