"""The baseline of figure 8: a bare Textual app (one Static), started like `tuitrain`."""

from textual.app import App, ComposeResult
from textual.widgets import Static


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("bare textual app")


if __name__ == "__main__":
    Bare().run()
