"""The documentation site builds, strictly: any warning (a broken link or anchor, a page missing
from the nav, a snippet file that is gone, an API reference that no longer resolves, a command
page whose CLI object moved) fails the suite.

Not marked slow: it loads no model (the command pages import the CLI the way `qstar --help`
does), and `make test` installs the docs extra, so it runs in `make test` and `make test-fast`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(site: Path, config: Path = REPO / "mkdocs.yml") -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def warnings_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(r"^\s*(WARNING|ERROR)\b", line)]


def test_mkdocs_is_installed():
    done = subprocess.run([sys.executable, "-c", "import mkdocs, material, mkdocstrings, mkdocs_click"],
                          capture_output=True, text=True)
    assert done.returncode == 0, ("the docs tools are missing: pip install -e '.[docs]' (make install does)\n"
                                  + done.stderr)


def test_the_site_builds_strictly_without_a_warning(tmp_path):
    done = build(tmp_path / "site")
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    assert not warnings_in(output), "\n".join(warnings_in(output))
    site = tmp_path / "site"
    # the generated parts are there: a command's options from the CLI, the API reference, the fault table
    eval_page = (site / "commands" / "eval" / "index.html").read_text(encoding="utf-8")
    assert "--n-terminals" in eval_page and "--budget" in eval_page
    assert "qstar_cli.search.base.SearchEnv" in (site / "api" / "search" / "index.html").read_text(encoding="utf-8")
    assert "chains resumed OK" in (site / "runs" / "index.html").read_text(encoding="utf-8")


def test_every_cli_command_has_its_page():
    """A new command needs a page (and the nav entry that --strict then asks for)."""
    from qstar_cli import cli_reference

    def names(command, prefix=""):
        for name, sub in getattr(command, "commands", {}).items():
            if getattr(sub, "commands", None):
                yield from names(sub, f"{prefix}{name}-")
            else:
                yield f"{prefix}{name}"

    pages = {p.stem for p in (REPO / "docs" / "commands").glob("*.md")}
    missing = sorted(set(names(cli_reference.qstar)) - pages)
    assert not missing, f"commands without a page in docs/commands/: {missing}"


def test_a_broken_link_fails_the_build(tmp_path):
    """The check above would pass on a build that never fails: make one that must."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\nSee [nowhere](missing.md) and [a heading](#no-such-heading).\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text("site_name: x\ndocs_dir: docs\nvalidation:\n  links:\n    anchors: warn\n")
    done = build(tmp_path / "site", config)
    assert done.returncode != 0
    assert any("missing.md" in line for line in warnings_in(done.stdout + done.stderr))
