"""`qstar --help` must stay instant: it may import neither torch nor vllm (nor transformers)."""

import subprocess
import sys


def test_help_imports_no_heavy_libraries():
    code = (
        "import sys\n"
        "from qstar_cli.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "for name in ('torch', 'vllm', 'transformers', 'datasets'):\n"
        "    print(name, name in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    pairs = [line.split() for line in result.stdout.splitlines()]
    loaded = dict(p for p in pairs if len(p) == 2 and p[1] in ("True", "False"))
    assert loaded == {"torch": "False", "vllm": "False", "transformers": "False", "datasets": "False"}, result.stdout


def test_subcommand_help_is_light_too():
    code = (
        "import sys\n"
        "from qstar_cli.cli import app\n"
        "try:\n"
        "    app(['collect-rollouts', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('HEAVY', any(m in sys.modules for m in ('torch', 'vllm')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY False" in result.stdout, result.stdout + result.stderr
