"""Job logs read as sentences: no Python reprs, no warning source lines, no kernel chatter."""

from __future__ import annotations

import logging
import re
import warnings

import nbformat
import numpy as np

from trustseg.report.notebooks import execute_notebook, kernel_messages
from trustseg.stages.common import readable, run_stage

REMOVED = {"start": 3, "component": 2, "stage": "search", "iteration": 14, "share": 0.0123456,
           "effective_respondents": 3.2, "reason": "share 0.0123 below min_share 0.03", "in_final": False}


def _noisy_stage() -> None:
    logger = logging.getLogger("trustseg")
    logger.info("analysis a: respondents without a score on %s are left out", ["loyalty", "satisfaction"])
    logger.warning("analysis a, K=4: removed a segment: %s", REMOVED)
    warnings.warn("the observed information is not positive definite:\n  standard errors use a pseudo-inverse",
                  RuntimeWarning, stacklevel=1)
    with np.errstate(divide="warn"):
        np.log(np.zeros(1))


def test_stage_log_is_written_in_sentences(tmp_path, capsys):
    log = tmp_path / "job.log"
    run_stage(_noisy_stage, log)
    text = log.read_text()
    lines = text.splitlines()
    # Every line is one log record: time, level, message; no source line of a warning follows it.
    assert all(re.match(r"\d\d:\d\d:\d\d (INFO|WARNING) \S", line) for line in lines), text
    assert not re.search(r"[{}\[\]]|'\w+':", text), text  # no dict or list reprs
    assert "without a score on loyalty, satisfaction are left out" in text
    assert ("removed a segment: share 0.0123 below min_share 0.03 (start 3, component 2, stage search, "
            "iteration 14, share 0.01235, effective respondents 3.2, in final no)") in text
    assert "WARNING the observed information is not positive definite: standard errors use a pseudo-inverse" in text
    assert "WARNING divide by zero encountered in log" in text
    assert "warnings.warn" not in text and "Warning:" not in text
    assert capsys.readouterr().err.count("WARNING") == 3  # the same lines on the console


def test_readable_values():
    assert readable({"share": 0.5, "in_final": True}) == "share 0.5, in final yes"
    assert readable({"reason": "too small"}) == "too small"
    assert readable(("a", 2)) == "a, 2"


def test_kernel_noise_is_dropped_and_real_messages_kept():
    said = ("[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication ...\n"
            "0.00s - Debugger warning: It seems that frozen modules are being used\n"
            "0.00s - Note: Debugging will proceed. Set PYDEVD_DISABLE_FILE_VALIDATION=1 to disable this validation.\n"
            "\n"
            "Traceback (most recent call last):\n"
            "ModuleNotFoundError: No module named 'trustseg'\n")
    assert kernel_messages(said) == ("Traceback (most recent call last):\n"
                                     "ModuleNotFoundError: No module named 'trustseg'")


def test_notebook_log_holds_no_kernel_noise(tmp_path, capfd):
    template = tmp_path / "tiny.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print(x + 1)")]
    nbformat.write(nb, str(template))
    log = tmp_path / "notebook.log"
    run_stage(execute_notebook, log, template=str(template), out_ipynb=str(tmp_path / "out.ipynb"),
              out_html=None, parameters={"x": 41}, workdir=str(tmp_path))
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO done in [\d.]+ s\n", log.read_text())
    out = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)
    assert out.cells[-1].outputs[0]["text"] == "42\n"
    captured = capfd.readouterr()
    assert "IPKernelApp" not in captured.err + captured.out
