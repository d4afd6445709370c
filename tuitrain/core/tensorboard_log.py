"""`--tensorboard`: the run's scalars also as TensorBoard event files, in `RUN/tensorboard/`,
so `tensorboard --logdir runs` shows every run. Written with the `tensorboard` package's own
event-file writer (its protobufs; neither TensorFlow nor PyTorch is imported), fed by the
Recorder: training values every log interval (`train/...`, `lr`, `samples_per_sec`), epoch
values (`epoch/...`, validation included) at their global step, and live changes and alerts
as text."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from tuitrain.core.errors import UserError

FOLDER = "tensorboard"
INSTALL = "--tensorboard needs the tensorboard package: pip install tensorboard"


def check_installed() -> None:
    """A one-line error, before a run starts, where the package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise UserError(INSTALL)


class TensorBoardLog:
    """Scalars and text into one run's event file."""

    def __init__(self, run_path: Path) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        self._writer = EventFileWriter(str(run_path / FOLDER), flush_secs=5)

    def scalars(self, values: dict[str, float], step: int, prefix: str = "") -> None:
        summary = self._summary(value=[
            self._summary.Value(tag=f"{prefix}{name}", simple_value=float(value))
            for name, value in values.items() if isinstance(value, (int, float))])
        self._writer.add_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def text(self, tag: str, text: str, step: int) -> None:
        from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2

        tensor = tensor_pb2.TensorProto(
            dtype=7, string_val=[text.encode("utf-8")],  # DT_STRING
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]))
        meta = self._summary_metadata("text")
        summary = self._summary(value=[self._summary.Value(tag=tag, tensor=tensor,
                                                           metadata=meta)])
        self._writer.add_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def _summary_metadata(self, plugin: str) -> Any:
        from tensorboard.compat.proto import summary_pb2

        return summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))

    def close(self) -> None:
        self._writer.close()
