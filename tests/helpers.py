"""Test data and helpers shared by several test modules."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from kb.importer import ColumnMapping
from kb.records import Record
from service.engine import Engine

FIXTURES = Path(__file__).parent / "fixtures"
ZH_CSV = FIXTURES / "cases_zh.csv"
ZH_LEVELS = "三级,二级,一级"


def zh_mapping(**changes) -> ColumnMapping:
    """The column mapping for fixtures/cases_zh.csv."""
    base = {"text": ["故障表述"], "fix": "处理记录", "labels": {"category": "类别"},
            "severity": "严重程度", "id": "工单号"}
    return ColumnMapping(**{**base, **changes})


def small_kb_records() -> list[Record]:
    """A few labelled cases and articles, Chinese and English, for triage and search."""
    def case(rid, text, fix, category, component, severity, title=""):
        return Record("case", rid, title=title, text=text, fix=fix, severity=severity,
                      labels={"category": category, "component": component}, state="closed")

    return [
        case("C1", "NVR提示硬盘错误，录像回放查不到", "更换故障硬盘并初始化",
             "storage", "nvr", "high"),
        case("C2", "NVR beeps with HDD error and playback is empty", "Replaced the failed disk",
             "storage", "nvr", "high"),
        case("C3", "仓库摄像机每天掉线几次，IP地址与打印机冲突", "改为固定IP并做地址保留",
             "network", "camera", "medium"),
        case("C4", "Camera drops offline, IP address conflict with a laptop",
             "Moved the camera to a static IP outside the DHCP pool", "network", "camera",
             "medium"),
        case("C5", "平台授权到期 E-1043，新摄像机加不进去", "续期并导入新授权文件",
             "licence", "server", "high"),
        case("C6", "Licence expired E-1043 on the VMS, cannot add cameras",
             "Renewed and imported the licence file", "licence", "server", "high"),
        case("C7", "客户端安装报错0x8007045D", "", "software", "client", "low"),
        case("C8", "Client installer stops with error 0x8007045D", "Copied installer locally",
             "software", "client", "low"),
        Record("article", "A1", title="UPS冒烟或有焦糊味的应急处理",
               text="机房UPS冒烟、有焦糊味", fix="立即断开UPS输入输出，更换电池组",
               labels={"category": "power", "component": "ups"}, severity="critical",
               state="validated"),
    ]


def legacy_assignee(engine: Engine, case_id: str, name: str) -> None:
    """Make `name` the case's assignee and escalation target as a knowledge base from
    before issue 10 may hold them (any text then; now only a user name is accepted)."""
    row = engine.kb.row("case", case_id)
    packet = {**json.loads(row["escalation"]), "to": name}
    engine.kb.update("case", case_id, {"assignee": name,
                                       "escalation": json.dumps(packet, ensure_ascii=False)},
                     "system", "legacy")


class Clock:
    """Stands in for service.cases.now_utc, so every workflow stamp is known: it says
    `t`, which a test moves on."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> str:
        return self.t.strftime("%Y-%m-%dT%H:%M:%SZ")


def saved_for_cli(engine: Engine) -> str:
    """The engine's data folder, with its settings and index saved so that a `knownfix`
    command run on that folder loads what the engine holds."""
    from settings import save_settings

    save_settings(engine.settings)
    engine.save()
    return engine.settings.data_dir


def run_cli(args: list[str]):
    """`knownfix ARGS` in this process (typer's CliRunner): its result."""
    from typer.testing import CliRunner

    from cli.main import app

    return CliRunner().invoke(app, args)
