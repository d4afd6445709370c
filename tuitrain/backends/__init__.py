"""Framework backends, one module each, imported lazily by name so that nothing pulls in a
framework until a run needs it."""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import TYPE_CHECKING

from tuitrain.core.catalog import FRAMEWORK_TITLES, FRAMEWORKS
from tuitrain.core.errors import UserError, choices_error

if TYPE_CHECKING:
    from tuitrain.backends.base import Backend
    from tuitrain.core.spec import RunSpec

MODULES: dict[str, str] = {
    "torch": "tuitrain.backends.torch_backend",
    "tensorflow": "tuitrain.backends.tensorflow_backend",
    "keras": "tuitrain.backends.keras_backend",
}
PACKAGES: dict[str, str] = {"torch": "torch", "tensorflow": "tensorflow", "keras": "keras"}
INSTALL: dict[str, str] = {
    "torch": "pip install 'tuitrain[torch]'  (CPU-only: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
    "tensorflow": "pip install 'tuitrain[tensorflow]'  (CPU-only: pip install tensorflow-cpu)",
    "keras": "pip install 'tuitrain[tensorflow]'  (Keras 3 comes with TensorFlow)",
}
KERAS_BACKEND_INSTALL: dict[str, str] = {
    "tensorflow": INSTALL["tensorflow"],
    "torch": INSTALL["torch"],
    "jax": "pip install jax",
}
# Test hook, never set in real use: a line that `load()` writes to fd 2 after the import, as a
# framework's C++ start-up does (TensorFlow's `E0000 ... cuInit`), so tests can check that such
# noise stays out of the terminal with frameworks that happen to load quietly.
TEST_FD2_NOISE = "TUITRAIN_TEST_FD2_NOISE"


def is_installed(framework: str) -> bool:
    """Whether the framework's package can be imported, without importing it."""
    return importlib.util.find_spec(PACKAGES[framework]) is not None


def not_installed(framework: str, keras_backend: str = "tensorflow") -> str:
    """Why `framework` (on Keras, with `keras_backend`) cannot run here, with the command
    that installs what is missing; '' when it can."""
    if not is_installed(framework):
        title = FRAMEWORK_TITLES[framework]
        return f"{title} is not installed; install it with: {INSTALL[framework]}"
    if framework == "keras" and importlib.util.find_spec(keras_backend) is None:
        return (
            f"Keras' {keras_backend} backend is not installed; install it with: "
            f"{KERAS_BACKEND_INSTALL[keras_backend]}"
        )
    return ""


def load(framework: str) -> Backend:
    """The backend for a framework, or a clear error with the pip command to install it."""
    if framework not in MODULES:
        raise choices_error("framework", framework, FRAMEWORKS)
    if not is_installed(framework):
        raise UserError(f"{framework} is not installed; install it with: {INSTALL[framework]}")
    backend = importlib.import_module(MODULES[framework]).BACKEND
    if noise := os.environ.get(TEST_FD2_NOISE):
        os.write(2, noise.encode() + b"\n")
    return backend


def preflight(spec: RunSpec, probe_device: bool = True, resume: bool = False) -> RunSpec:
    """Everything that can be checked before a run folder or a process exists: the spec
    against its data, the framework installed, a person's own model file and the weights a
    new run starts from (built in a child process with the framework: `user_model.check`),
    and (when asked: it costs a child process) an explicitly requested accelerator actually
    visible to that framework. `resume`: the run exists and continues (no `--init-from`)."""
    from tuitrain.backends import user_model
    from tuitrain.core import devices, validate

    validate.check(spec)
    missing = not_installed(spec.run.framework, spec.run.keras_backend)
    if missing:
        raise UserError(missing)
    if spec.run.tensorboard:
        from tuitrain.core import tensorboard_log

        tensorboard_log.check_installed()
    if spec.model_file is not None or (spec.train.init_from and not resume):
        user_model.check(spec, resume=resume)
    if probe_device:
        devices.check_available(spec.run.framework, spec.run.device)
    return spec
