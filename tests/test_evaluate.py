"""service/evaluate.py and `knownfix evaluate`: metrics from TRAIN and TEST files."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from errors import BadInput, MissingColumn
from kb.importer import ColumnMapping
from service.evaluate import EvalSpec, evaluate

HEADER = ["故障表述", "故障类型", "部件", "严重程度"]
TRAIN = [  # neighbouring rows differ in fault, so a row-numbering slip shows in hit@1
    ["NVR提示硬盘错误，录像查不到", "disk", "nvr", "二级"],
    ["Camera drops offline, IP conflict with a laptop", "ip-conflict", "camera", "三级"],
    ["平台服务器宕机，全部用户无法登录", "server-down", "server", "一级"],
    ["NVR beeps with HDD error, no playback", "disk", "nvr", "二级"],
    ["摄像机每天掉线几次，IP地址冲突", "ip-conflict", "camera", "三级"],
    ["VMS server down, all users cannot log in", "server-down", "server", "一级"],
    ["硬盘状态异常，SMART报警", "disk", "nvr", "二级"],
    ["摄像机时好时坏，ARP表显示两个MAC", "ip-conflict", "camera", "三级"],
    ["监控平台宕机，客户端都连不上", "server-down", "server", "一级"],
]
TEST = [
    ["NVR提示硬盘错误，录像查不到", "disk", "nvr", "二级"],
    ["Camera drops offline, IP conflict with a laptop", "ip-conflict", "camera", "三级"],
    ["平台服务器宕机，全部用户无法登录", "server-down", "server", "一级"],
    ["VMS server down, all users cannot log in", "", "server", ""],      # no label, no level
    ["UPS冒烟，有焦糊味", "ups-smoke", "ups", "一级"],                    # fault not in TRAIN
    ["", "disk", "nvr", "二级"],                                          # empty text
]
MAPPING = ColumnMapping(text=["故障表述"], labels={"fault": "故障类型", "component": "部件"},
                        severity="严重程度")


def write(path, rows, blank_after: int | None = None):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for n, row in enumerate(rows):
            w.writerow(row)
            if n == blank_after:
                fh.write(",,,\n")  # a blank row: skipped by the reader, rows renumbered
    return str(path)


@pytest.fixture
def files(tmp_path):
    return write(tmp_path / "train.csv", TRAIN, blank_after=1), write(tmp_path / "test.csv", TEST)


@pytest.fixture
def fast(settings):
    return settings.with_(severity_levels="三级,二级,一级")


def test_metrics(files, fast):
    train, test = files
    r = evaluate(EvalSpec(train, test, MAPPING, relevant_by="故障类型"), fast)
    assert {"labels", "severity", "retrieval", "latency_ms", "import_rows_per_s"} <= set(r)
    fault = r["labels"]["fault"]
    # rows 1-3 and 5 are scored; row 4 has no value; row 6 has no text
    assert (fault["n"], fault["skipped"]) == (4, 1)
    assert r["labels"]["component"]["n"] == 5
    assert (r["severity"]["n"], r["severity"]["skipped"]) == (4, 1)
    # a relevant value absent from TRAIN (ups-smoke) or empty is skipped and counted
    assert (r["retrieval"]["n"], r["retrieval"]["skipped"]) == (3, 2)
    assert r["test"] == {"rows": 6, "empty_text": 1}
    assert r["train"] == {"rows": len(TRAIN), "rejected": 0}
    for value in [fault["accuracy"], fault["macro_f1"], r["severity"]["accuracy"],
                  r["retrieval"]["hit@1"], r["retrieval"]["hit@5"], r["retrieval"]["mrr@10"]]:
        assert 0.0 <= value <= 1.0
    lat = r["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"]
    assert r["import_rows_per_s"] > 0


def test_rows_seen_in_training_are_found_and_labelled(files, fast):
    """Test rows copied from TRAIN: their own record is relevant, so hit@1 is 1; this also
    proves matches are mapped to TRAIN rows with the importer's own numbering."""
    train, test = files
    r = evaluate(EvalSpec(train, test, MAPPING, relevant_by="故障类型"), fast)
    assert r["retrieval"]["hit@1"] == 1.0 and r["retrieval"]["mrr@10"] == 1.0
    assert r["labels"]["component"]["accuracy"] >= 0.8
    # the critical rows are rated at the top level (rules and history agree)
    assert r["severity"]["top_recall"] == 1.0


def test_keys_without_inputs_are_null(files, fast):
    train, test = files
    r = evaluate(EvalSpec(train, test, ColumnMapping(text=["故障表述"],
                                                     labels={"fault": "故障类型"})), fast)
    assert r["severity"] is None and r["retrieval"] is None
    assert r["labels"]["fault"]["n"] == 4


def test_evaluation_leaves_the_data_folder_alone(files, fast):
    train, test = files
    evaluate(EvalSpec(train, test, MAPPING), fast)
    assert not fast.db_path.exists()


@pytest.mark.parametrize(("spec_changes", "error", "message"), [
    ({"relevant_by": "原因"}, BadInput, "原因"),
    ({"mapping": ColumnMapping(text=["描述"])}, MissingColumn, "描述"),
])
def test_bad_specs(files, fast, spec_changes, error, message):
    train, test = files
    spec = EvalSpec(train, test, MAPPING)
    for k, v in spec_changes.items():
        setattr(spec, k, v)
    with pytest.raises(error, match=message):
        evaluate(spec, fast)


def test_training_file_without_usable_rows(tmp_path, fast):
    train = write(tmp_path / "train.csv", [["", "disk", "nvr", "二级"]])
    test = write(tmp_path / "test.csv", TEST)
    with pytest.raises(BadInput, match="no usable rows"):
        evaluate(EvalSpec(train, test, MAPPING), fast)


# -- through the command line ------------------------------------------------------------------

def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"KNOWNFIX_MODEL": "hash:256"})


ARGS = ["--text", "故障表述", "--label", "fault=故障类型", "--severity", "严重程度",
        "--severity-levels", "三级,二级,一级", "--relevant-by", "故障类型"]


def test_cli_json_is_exactly_one_object(files, tmp_path):
    train, test = files
    result = cli("evaluate", "--train", train, "--test", test, *ARGS, "--json",
                 "--data-dir", tmp_path / "data")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)  # fails on anything but one JSON document
    assert isinstance(out, dict)
    assert len(result.stdout.strip().splitlines()) == 1
    assert {"labels", "severity", "retrieval", "latency_ms", "import_rows_per_s"} <= set(out)
    assert {"accuracy", "macro_f1", "n"} <= set(out["labels"]["fault"])
    assert {"accuracy", "macro_f1", "top_recall", "n"} <= set(out["severity"])
    assert {"hit@1", "hit@5", "mrr@10", "n"} <= set(out["retrieval"])
    assert {"p50", "p95"} <= set(out["latency_ms"])


def test_cli_json_nulls_for_inputs_not_given(files, tmp_path):
    train, test = files
    result = cli("evaluate", "--train", train, "--test", test, "--text", "故障表述",
                 "--label", "fault=故障类型", "--json", "--data-dir", tmp_path / "data")
    out = json.loads(result.stdout)
    assert out["severity"] is None and out["retrieval"] is None


def test_cli_plain_report(files, tmp_path):
    train, test = files
    result = cli("evaluate", "--train", train, "--test", test, *ARGS,
                 "--data-dir", tmp_path / "data")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("label fault: accuracy ")
    assert any(line.startswith("severity: accuracy ") for line in lines)
    assert any(line.startswith("retrieval: hit@1 1.000") for line in lines)
    assert any(line.startswith("triage latency: p50 ") for line in lines)


@pytest.mark.parametrize(("extra", "word"), [
    (["--relevant-by", "原因"], "原因"),
    (["--severity-levels", "only"], "two or more"),
    (["--label", "fault=类型"], "类型"),
])
def test_cli_bad_input_is_one_line(files, tmp_path, extra, word):
    train, test = files
    result = cli("evaluate", "--train", train, "--test", test, "--text", "故障表述", *extra,
                 "--data-dir", tmp_path / "data")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and word in lines[0]
