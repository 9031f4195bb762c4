"""The README's snippets work as written, from an empty temporary directory (issue 17): the
library example, the rule-override TOML, the shell-completion lines, and the options and
commands it documents."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.cli import cli
from reportgen.rules import load_rules

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")
SCRIPT = Path(sys.executable).with_name("reportgen")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def _env(tmp_path: Path) -> dict[str, str]:
    """No PYTHONPATH and another working directory: only the installed package is found."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {
        **env,
        "SOURCE_DATE_EPOCH": "1704067200",
        "HOME": str(tmp_path),
        "PATH": f"{SCRIPT.parent}{os.pathsep}{env.get('PATH', '')}",
    }


@pytest.mark.slow
@pytest.mark.parametrize("number", range(len(_blocks("python"))))
def test_python_snippet_runs_from_an_empty_directory(tmp_path, number):
    snippet = tmp_path / "snippet.py"
    snippet.write_text(_blocks("python")[number], "utf-8")
    done = subprocess.run(
        [sys.executable, str(snippet)],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    missing = re.search(r"ModuleNotFoundError: No module named '([\w.]+)'", done.stderr)
    if missing and not missing.group(1).startswith("reportgen"):  # e.g. the Dask example
        pytest.skip(f"the snippet needs {missing.group(1)}, not installed here")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    if "build_patient_reports" in snippet.read_text("utf-8"):
        assert done.stdout.startswith("True 6 []"), done.stdout
        assert (tmp_path / "output" / "manifest.json").exists()


def test_rule_override_snippets_load(tmp_path):
    overrides = [b for b in _blocks("toml") if "[risk." in b]
    assert overrides
    for number, text in enumerate(overrides):
        path = tmp_path / f"override{number}.toml"
        path.write_text(text, "utf-8")
        assert "+local." in load_rules(path).version


@pytest.mark.slow
@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_completion_snippets_produce_a_script(tmp_path):
    shells = re.findall(r"_REPORTGEN_COMPLETE=(\w+_source) reportgen", "".join(_blocks("bash")))
    assert sorted(shells) == ["bash_source", "fish_source", "zsh_source"]
    for shell in shells:
        done = subprocess.run(
            [str(SCRIPT)],
            env={**_env(tmp_path), "_REPORTGEN_COMPLETE": shell},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "reportgen" in done.stdout
        assert "complete" in done.stdout.lower()


@pytest.mark.slow
@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_template_snippet_writes_a_commented_csv(tmp_path):
    command = re.search(r"`(reportgen template input > [\w.-]+)`", README).group(1)
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = (tmp_path / command.rsplit(" ", 1)[1]).read_text("utf-8")
    assert written.startswith("# ")
    assert written.splitlines()[-1].startswith("patient_id,")


def test_every_command_and_global_option_is_documented(run_reportgen):
    commands = sorted(cli.commands)
    for name in commands:
        assert f"reportgen {name}" in README, name
    for option in ("-q", "-v", "--log-file", "--wait"):
        assert f"`{option}" in README or f"[{option}" in README, option
    assert run_reportgen("--help").exit_code == 0
