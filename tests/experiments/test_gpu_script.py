"""The prepared GPU job runs end to end in its tiny CPU dry-run mode and writes its plan, log and table."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_script_dry_run_plans_trains_and_tabulates(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(REPO / "experiments" / "gpu" / "plan_and_run.py"), "--out", str(tmp_path),
                        "--dry-run", "--parallel", "2"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["device"] == "cpu" and plan["epochs"] == 1 and plan["seeds"] == [0]
    assert set(plan["images_per_s"]) == {"None", "2", "3", "4", "5"}
    assert all(v > 0 for v in plan["images_per_s"].values())
    table = (tmp_path / "vgg16_ratio" / "table.md").read_text()
    for point in ("baseline", "s=2 d=3", "s=3 d=3", "s=4 d=3", "s=5 d=3"):
        assert point in table
    log = (tmp_path / "log.txt").read_text()
    assert "report exit 0" in log
    trained = [line.split("ghostnas.ablate: training ")[1] for line in log.splitlines() if "ablate: training " in line]
    assert len(trained) == 5 and len(set(trained)) == 5, trained  # every network trained once
