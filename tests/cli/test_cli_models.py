import json
import subprocess
import sys

from ghostnas.cli import main


def test_models_lists_registry_with_counts(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ghostnet_100"]["params"] == 5_182_508
    assert rows["ghostnet_100"]["macs"] == 141_150_512
    assert rows["vgg16_cifar"]["input"] == 32


def test_console_script_version_and_bad_command():
    out = subprocess.run([sys.executable, "-m", "ghostnas.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("ghostnas ")
    bad = subprocess.run([sys.executable, "-m", "ghostnas.cli", "no-such-command"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "invalid choice" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
