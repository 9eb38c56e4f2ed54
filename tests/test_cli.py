"""The command line as an installed package presents it: `python -m tinygrad_nm`, `--version`,
`tinygrad-nm bench` on the cases shipped in the package, train's output flags, and the plot that
leaves the user's matplotlib backend alone."""
import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

import tinygrad_nm as tnm
from tinygrad_nm.cli import main
from tinygrad_nm.napkin import cli_bench

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--task", "average", "--size", "4", "--samples", "200", "--batch-size", "20", "--no-plot"]


def python_m(*args, cwd=None, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "tinygrad_nm", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def test_python_m_is_the_cli_and_version_is_written_once(tmp_path):
    done = python_m("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tinygrad-nm {tnm.__version__}"
    assert metadata.version("tinygrad_nm") == tnm.__version__  # pyproject reads it from the package
    done = python_m("--help", cwd=tmp_path)
    assert done.returncode == 0 and all(c in done.stdout for c in ("train", "bench", "calibrate", "--version"))


def test_unknown_subcommand_is_a_clear_error(tmp_path):
    done = python_m("trian", cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'trian'" in done.stderr


# --- tinygrad-nm bench -------------------------------------------------------------------------
def test_bench_suite_errors_name_the_folder(tmp_path):
    assert (cli_bench.find_suite() / "test_napkin_kernels.py").is_file()  # shipped in the package
    with pytest.raises(SystemExit, match="--suite .*nowhere: no such directory"):
        cli_bench.find_suite(str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match=f"no conftest.py in {tmp_path}"):
        cli_bench.find_suite(str(tmp_path))


def _bench(tmp_path, *args):
    env = dict(os.environ, TINYGRAD_NM_RATES=str(tmp_path / "rates.json"))
    env.pop(cli_bench.BENCH_DIR_ENV, None)
    cmd = ["bench", "--quick", "--no-calibrate", "--backend", "numpy", "-k", "test_matmul and 64",
           "--out", str(tmp_path / "out"), *args]
    return python_m(*cmd, cwd=tmp_path, env=env, timeout=300)


def test_bench_runs_the_shipped_cases_outside_a_clone(tmp_path):
    """From a folder that is not the repository: the cases, the plugin and the report all come from the
    package. Prints the table, writes the JSON and the PNG, and pytest-benchmark's own storage."""
    result = _bench(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "meas/pred" in result.stdout and "numpy      matmul       64x64x64" in result.stdout
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".json", ".png"]
    saved = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert saved["machine_info"]["napkin"]["source"] == "defaults"
    assert "OPENBLAS_CORETYPE" in saved["machine_info"] and "threads" in saved["machine_info"]
    ref = saved["machine_info"]["reference"]  # the reference probes at start and end; no calibration here
    assert ref["calibration"] is None and {"interpreter", "numpy_call", "memory_read"} <= set(ref["start"]) == set(ref["end"])
    assert list((tmp_path / ".benchmarks").rglob("*.json"))  # in the current folder, for compare
    assert not (tmp_path / ".pytest_cache").exists()


def test_bench_suite_runs_a_clones_bench_folder(tmp_path):
    bench = os.path.join(REPO, "bench")
    others = [f"--ignore={os.path.join(bench, f)}" for f in os.listdir(bench)
              if f.startswith("test_") and not f.startswith("test_napkin")]  # not collected: faster
    result = _bench(tmp_path, "--suite", bench, "--", *others)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "numpy      matmul       64x64x64" in result.stdout


# --- tinygrad-nm train: what it prints ---------------------------------------------------------
def train(capsys, *argv):
    code = main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_progress_bars_only_on_a_terminal(capsys):
    code, out, err = train(capsys, *SMALL, "--epochs", "1", "--no-profile")  # captured: not a terminal
    assert code == 0, err
    assert "batch" not in err and "\r" not in err and "epoch   1/1" in out


def test_no_profile_leaves_out_the_profile_table(capsys):
    code, out, err = train(capsys, *SMALL, "--epochs", "1", "--no-profile")
    assert code == 0, err
    assert "napkin estimate" not in out and "held-out loss after 1 epochs" in out
    code, out, err = train(capsys, *SMALL, "--epochs", "1")
    assert code == 0 and "one training step (batch 20): napkin estimate" in out


def test_quiet_prints_the_result_and_the_files_only(tmp_path, capsys):
    path = str(tmp_path / "run.npz")
    code, out, err = train(capsys, *SMALL, "--epochs", "2", "--quiet", "--save", path)
    assert code == 0, err
    assert out.splitlines() == [out.splitlines()[0], f"checkpoint: {path} (epoch 2)"]
    assert out.startswith("held-out loss after 2 epochs: ") and err == ""
    with pytest.raises(SystemExit) as exit_:
        main(["train", *SMALL, "--progress", "--no-progress"])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


# --- the bench plot ----------------------------------------------------------------------------
def test_plot_keeps_the_users_matplotlib_backend(tmp_path):
    """A notebook's inline backend must survive a plot: report.plot draws on its own Agg canvas."""
    script = f"""
import sys, matplotlib
matplotlib.use("svg")
from tinygrad_nm.napkin import report
row = report.Row("x", "numpy", "matmul", "64", 1e-3, 2e-3, 5e-4, 1e6, 1e5, "compute")
report.plot([row], {str(tmp_path / 'p.png')!r})
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg", "False"]
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
