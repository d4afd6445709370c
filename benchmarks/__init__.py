"""tuitrain's performance suite (`python benchmarks/run.py`); not collected by pytest."""
