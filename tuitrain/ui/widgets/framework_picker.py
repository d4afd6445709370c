"""The framework choice: PyTorch, TensorFlow or Keras (with its backend), each marked when it
is not installed. Nothing here imports a framework; `is_installed` only looks for it."""

from __future__ import annotations

import importlib.util

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import RadioButton, RadioSet, Select

from tuitrain import backends
from tuitrain.core.catalog import FRAMEWORK_TITLES, FRAMEWORKS, KERAS_BACKENDS
from tuitrain.ui.widgets.field_row import FieldRow


def package_installed(name: str) -> bool:
    """Whether a framework (or a Keras backend like jax) can be imported, without importing it."""
    if name in backends.PACKAGES:
        return backends.is_installed(name)
    return importlib.util.find_spec(name) is not None


def framework_label(framework: str, installed: bool) -> str:
    """'PyTorch', or 'TensorFlow (not installed)'."""
    title = FRAMEWORK_TITLES[framework]
    return title if installed else f"{title} (not installed)"


class FrameworkPicker(Vertical):
    """Radio buttons for the framework and a select for the Keras backend."""

    class Changed(Message):
        """The framework or the Keras backend changed."""

        def __init__(self, framework: str, keras_backend: str) -> None:
            super().__init__()
            self.framework = framework
            self.keras_backend = keras_backend

    def __init__(self, framework: str = "torch", keras_backend: str = "tensorflow",
                 *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.installed = {name: package_installed(name) for name in FRAMEWORKS}
        self.backend_installed = {name: package_installed(name) for name in KERAS_BACKENDS}
        self._framework = framework
        self._keras_backend = keras_backend

    def compose(self) -> ComposeResult:
        with RadioSet(id="framework", compact=True):
            for name in FRAMEWORKS:
                yield RadioButton(framework_label(name, self.installed[name]),
                                  value=name == self._framework, id=f"fw-{name}")
        options = [(b if self.backend_installed[b] else f"{b} (not installed)", b)
                   for b in KERAS_BACKENDS]
        select: Select[str] = Select(options, value=self._keras_backend, allow_blank=False,
                                     compact=True, id="keras-backend")
        select.disabled = self._framework != "keras"
        yield FieldRow("Keras backend", select, key="run.keras_backend", id="row-keras-backend")

    @property
    def framework(self) -> str:
        return self._framework

    @property
    def keras_backend(self) -> str:
        return self._keras_backend

    def set_framework(self, framework: str, keras_backend: str | None = None) -> None:
        """Select a framework (and backend) from code, e.g. when the CLI pre-fills the screen."""
        self.query_one(f"#fw-{framework}", RadioButton).value = True
        if keras_backend is not None:
            self.query_one("#keras-backend", Select).value = keras_backend

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        button_id = event.pressed.id or ""
        self._framework = button_id.removeprefix("fw-")
        self.query_one("#keras-backend", Select).disabled = self._framework != "keras"
        self.post_message(self.Changed(self._framework, self._keras_backend))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self._keras_backend:
            self._keras_backend = event.value
            self.post_message(self.Changed(self._framework, self._keras_backend))
