import subprocess
import sys

from simreal.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_exits_nonzero():
    proc = subprocess.run([sys.executable, "-m", "simreal.cli", "no-such-command"], capture_output=True)
    assert proc.returncode == 2
