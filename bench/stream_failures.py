"""A pytest plugin for runs that a time limit may cut short (bench/gpu_session.sh): each failure's
traceback is appended to the file named by STREAM_FAILURES the moment it is reported, where pytest
itself prints tracebacks only in its final summary.

    STREAM_FAILURES=failures.log pytest -p stream_failures ...   (bench/ on PYTHONPATH)
"""
import os


def pytest_runtest_logreport(report):
    path = os.environ.get("STREAM_FAILURES")
    if path and report.failed and "PYTEST_XDIST_WORKER" not in os.environ:  # once: in xdist's controller
        with open(path, "a") as f:
            f.write(f"=== {report.nodeid} ({report.when})\n{report.longreprtext}\n\n")
