"""A tiny ablation grid (digits, one epoch) end to end: study, run cache, table with paper columns, figure."""
import csv
import json

import optuna

from ghostnas.analysis import kendall_tau, paper_rows
from ghostnas.cli import main


def test_tiny_ablation_end_to_end(tmp_path, capsys):
    out, runs = tmp_path / "out", tmp_path / "runs"
    args = ["ablate", "--config", "vgg16_ratio",
            "--set", "data.dataset=digits", "--set", f"output.dir={out}", "--set", f"output.runs_dir={runs}",
            "--set", "values=[2, 4]", "--set", "seeds=[0, 1]", "--set", "study.threads=1",
            "--set", "fidelities.cpu-proxy.epochs=1", "--set", "fidelities.cpu-proxy.fraction=0.3",
            "--set", "fidelities.cpu-proxy.val_size=200", "--set", "fidelities.cpu-proxy.width=0.125",
            "--no-latency"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "table.md" in printed and "figure.png" in printed
    rows = list(csv.DictReader(open(out / "table.csv")))
    assert [r["point"] for r in rows] == ["baseline", "s=2 d=3", "s=4 d=3"]
    by = {r["point"]: r for r in rows}
    # Paper-size network counts, whatever width the proxy trained at.
    assert int(by["s=2 d=3"]["macs"]) == 158_699_520 and int(by["baseline"]["params"]) == 14_990_922
    assert float(by["s=4 d=3"]["paper_acc"]) == 93.0 and float(by["baseline"]["paper_flops_m"]) == 313
    assert int(by["s=2 d=3"]["n_seeds"]) == 2 and by["s=2 d=3"]["acc_sd_pct"] != ""
    assert "held-out validation" in by["s=2 d=3"]["eval_split"]
    assert int(by["s=2 d=3"]["proxy_macs"]) < int(by["s=2 d=3"]["macs"]) / 10
    assert (out / "figure.png").stat().st_size > 10_000 and (out / "figure.svg").is_file()
    md = (out / "table.md").read_text()
    assert "paper acc (%)" in md and "Kendall" in md
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kendall_tau_vs_paper"]["points"] == ["baseline", "s=2 d=3", "s=4 d=3"]
    assert len(list(runs.glob("*.json"))) == 6

    # Resume: nothing retrained, the study keeps exactly 6 complete trials.
    assert main(args) == 0
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.journal")))
    names = optuna.study.get_all_study_names(storage)  # the default name carries a hash of the grid
    assert len(names) == 1 and names[0].startswith("vgg16_ratio-cpu-proxy")
    study = optuna.load_study(study_name=names[0], storage=storage)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) == 6
    # The kernel ablation shares the baseline and s=2 d=3 runs through the run cache.
    args_k = [a.replace("vgg16_ratio", "vgg16_kernel") for a in args]
    args_k[args_k.index("values=[2, 4]")] = "values=[3]"
    args_k[args_k.index(f"output.dir={out}")] = f"output.dir={tmp_path / 'k'}"
    assert main(args_k) == 0
    assert len(list(runs.glob("*.json"))) == 6  # nothing new trained
    capsys.readouterr()


def test_paper_rows_and_tau():
    t4 = paper_rows(4, "vgg16")
    assert [(r["ratio"], r["acc"]) for r in t4] == [(None, 93.6), (2, 93.7), (3, 93.4), (4, 93.0), (5, 92.9)]
    assert [r["dw_size"] for r in paper_rows(3, "vgg16")] == [None, 1, 3, 5, 7]
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == 1.0 and kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0


def test_bad_ablation_configs(capsys):
    base = ["ablate", "--config", "vgg16_ratio"]
    assert main(base + ["--set", "axis=width"]) == 2
    assert "axis 'width' is not allowed" in capsys.readouterr().err
    assert main(base + ["--set", "values=[0]"]) == 2
    assert "ratio s must be an integer >= 1" in capsys.readouterr().err
    assert main(base + ["--set", "fidelity=fast"]) == 2
    assert "fidelity 'fast' is not defined" in capsys.readouterr().err
    assert main(base + ["--set", "fidelities.cpu-proxy.epochs=0"]) == 2
    assert "fidelity.epochs: 0 is not allowed" in capsys.readouterr().err
    assert main(base + ["--set", "values=[]", "--set", "baseline=false"]) == 2
    assert "values must be a list, non-empty unless baseline = true" in capsys.readouterr().err


def test_baseline_only_ablation_has_one_point():
    from ghostnas.search.ablate import AblationConfig
    from ghostnas.search.config import load_config
    cfg = AblationConfig.from_dict(load_config("vgg16_ratio", ["values=[]", "baseline=true"]))
    assert [p.label for p in cfg.points()] == ["baseline"]


def test_all_four_shipped_ablations_parse_and_resnet_runs(tmp_path, capsys):
    from ghostnas.search.ablate import AblationConfig
    from ghostnas.search.config import load_config
    for name, arch, axis, values in [("vgg16_ratio", "vgg16", "ratio", (2, 3, 4, 5)),
                                     ("vgg16_kernel", "vgg16", "dw_size", (1, 3, 5, 7)),
                                     ("resnet56_ratio", "resnet56", "ratio", (2, 3, 4, 5)),
                                     ("resnet56_kernel", "resnet56", "dw_size", (1, 3, 5, 7))]:
        cfg = AblationConfig.from_dict(load_config(f"{name}"))
        assert (cfg.arch, cfg.axis, cfg.values, cfg.baseline) == (arch, axis, values, True)
        assert len(cfg.seeds) >= 2 and cfg.fidelity_name == "cpu-proxy"
        paper = AblationConfig.from_dict(load_config(f"{name}", ["fidelity=paper"]))
        f = paper.fidelity
        assert (f.lr, f.momentum, f.weight_decay, f.batch_size, f.schedule, f.epochs) == \
            (0.1, 0.9, 1e-4, 128, "multistep", 164)
    out = tmp_path / "r"
    assert main(["ablate", "--config", "resnet56_kernel", "--set", "data.dataset=digits",
                 "--set", f"output.dir={out}", "--set", f"output.runs_dir={tmp_path / 'runs'}", "--set", "values=[3]",
                 "--set", "seeds=[0]", "--set", "study.threads=1", "--set", "fidelities.cpu-proxy.epochs=1",
                 "--set", "fidelities.cpu-proxy.fraction=0.2", "--set", "fidelities.cpu-proxy.val_size=100",
                 "--set", "fidelities.cpu-proxy.width=0.25", "--no-latency"]) == 0
    md = (out / "table.md").read_text()
    assert "| s=2 d=3 | 0.438 | 65.3 |" in md and "| 92.7 |" in md  # Table 5 reference row
    capsys.readouterr()
