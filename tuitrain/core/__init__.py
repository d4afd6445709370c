"""The core layer: specs, presets, data, events, run folders and checkpoints.

Nothing here imports Textual or an ML framework at import time; the boundary is tested.
"""
