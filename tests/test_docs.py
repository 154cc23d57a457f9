"""The documentation site builds, strictly: any warning (a broken link or anchor, a page missing
from the nav, a snippet file that is gone, an API reference that no longer resolves, a command
page whose CLI object moved) fails the suite.

Not marked slow: it loads no model (the command pages import the CLI the way `qstar --help`
does), and `make test` installs the docs extra, so it runs in `make test` and `make test-fast`.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(site: Path, config: Path = REPO / "mkdocs.yml") -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def warnings_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(r"^\s*(WARNING|ERROR)\b", line)]


def test_mkdocs_is_installed():
    done = subprocess.run(
        [sys.executable, "-c", "import mkdocs, material, mkdocstrings, mkdocs_click"], capture_output=True, text=True
    )
    assert done.returncode == 0, (
        "the docs tools are missing: pip install -e '.[docs]' (make install does)\n" + done.stderr
    )


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


# --- every qstar command the README and the docs show parses with today's CLI ---------------------


def shell_blocks(text: str) -> list[str]:
    """The bodies of a Markdown text's ```bash / ```sh fenced blocks (indented fences too)."""
    blocks, body, inside = [], [], None
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\w*)", line)
        if fence and inside is None:
            inside, body = fence.group(1), []
        elif fence:
            if inside in ("bash", "sh", "shell", "console"):
                blocks.append("\n".join(body))
            inside = None
        elif inside is not None:
            body.append(line)
    return blocks


def qstar_commands(block: str) -> list[str]:
    """Each `qstar ...` command of a shell block: continuation lines joined, comments dropped,
    commands chained with && or ; split, and NAME=value variables of the block substituted."""
    variables, out = {}, []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        assignment = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(\S+)", line)
        if assignment:
            variables[assignment.group(1)] = assignment.group(2)
            continue
        for part in re.split(r"&&|;", line):
            part = part.strip()
            if part.startswith("qstar "):
                for name, value in variables.items():
                    part = part.replace(f"${{{name}}}", value).replace(f"${name}", value)
                out.append(part)
    return out


def test_shell_blocks_and_commands_are_read_as_a_reader_reads_them():
    text = (
        "```text\nqstar not-a-command\n```\n\n  ```bash\n  R=recipes/demo\n  qstar eval --recipe $R/a.yaml \\\n"
        "      --limit 2   # a comment\n  qstar version && qstar report x\n  ```\n"
    )
    commands = [" ".join(c.split()) for b in shell_blocks(text) for c in qstar_commands(b)]
    assert commands == ["qstar eval --recipe recipes/demo/a.yaml --limit 2", "qstar version", "qstar report x"]


def test_every_qstar_command_in_the_readme_and_the_docs_parses():
    """Every flag known, every value of its type, every recipe of recipes/ named there (`--recipe R`
    or a user's own `my_data.yaml` are the reader's files)."""
    import shlex

    from typer.main import get_command

    from qstar_cli.cli import app

    cli = get_command(app)
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "recipes").rglob("*.md"))]
    seen, problems = 0, []
    for page in pages:
        for block in shell_blocks(page.read_text(encoding="utf-8")):
            for command in qstar_commands(block):
                seen += 1
                argv = shlex.split(command)[1:]
                where = f"{page.relative_to(REPO)}: {command}"
                try:
                    ctx = cli.make_context("qstar", list(argv))
                    name, cmd, rest = cli.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
                    cmd.make_context(name, rest, parent=ctx)
                except Exception as exc:  # click's own errors: an unknown flag or command, a bad value
                    problems.append(f"{where}\n  {type(exc).__name__}: {exc}")
                recipes = [
                    value
                    for flag, value in itertools.pairwise(argv)
                    if flag == "--recipe" and value.startswith("recipes/")
                ]
                problems += [f"{where}\n  no recipe {r}" for r in recipes if not (REPO / r).is_file()]
    assert seen > 50, f"only {seen} qstar commands found in the docs: is the block reader broken?"
    assert not problems, "\n".join(problems)
