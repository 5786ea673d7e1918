"""Replay: six weeks of realistic support traffic through the service layer.

A seeded generator (random.Random(7)) writes about 300 cases about the demo knowledge
base's faults, in Chinese and English, over several channels, customers and assets —
some assets come back (recurrences), some callers report a fault that is already open
(duplicates).  Three first-line agents, two engineers and a manager work them: intake,
triage, start, link a known fix or escalate, delay reasons, on-site dispatch with a
service record, resolve, confirm with a rating, close (which captures an article),
follow-up calls that reopen, weekly review of the drafted articles.  The clock of every
module that stamps times is replaced, so each stamp is known.

While it replays, the test keeps its own ledger of everything it did (and of what the
service rules say that must cause), then checks the knowledge base against it: final
states, the event log of every case (actions and actors in order), links, case numbers,
article drafts, deadlines (`attention`) and every figure of the manager's report.

Speed: triage retrains the classifiers whenever a settled record's labels change, which
in a replay is before nearly every intake (≈0.7 s each here, 95 % of the time).  The
replay retrains them once per simulated week instead (a nightly/weekly retrain is what a
busy desk would do); nothing here asserts what the classifiers predict.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from argon2 import PasswordHasher

import kb.store
import service.auth
import service.cases
import service.knowledge
from service.auth import SYSTEM, User
from service.cases import DELAY_REASONS, OPEN_STATES
from service.demo import load_demo
from service.desk import Desk
from settings import load_settings

SEED = 7
START = date(2026, 3, 2)  # a Monday
DAYS = 42  # six ISO weeks, 2026-W10 .. 2026-W15
END = START + timedelta(days=DAYS)
NOW = datetime(2026, 4, 13, 9, 0, tzinfo=UTC)  # Monday after the period, 09:00 UTC
LOADED_AT = datetime(2026, 2, 27, 8, 0, tzinfo=UTC)  # the demo KB, before the period
STALE_DAYS = 30
PASSWORD = "replay-password"
CST = timezone(timedelta(hours=8))  # received_at is sometimes typed in China time

# The matching knobs the stream's duplicates and recurrences were written against, pinned
# so that retuning the defaults cannot move them across a threshold.  With the hashing
# encoder a verbatim copy scores about 0.7 * 1.0 + 0.3 * 0.5 (BM25 of a document against
# itself, normalised, is about 0.5), so 0.84-0.87, and a reworded repeat 0.77-0.83;
# unrelated cases stay below 0.65.
MATCHING = {"fusion_weight": 0.7, "duplicate_threshold": 0.75, "similar_fault": 0.55}

AGENTS = ("li.na", "zhao.min", "amy.chen")
ENGINEERS = ("wang.gong", "sam.lee")
MANAGER = "chen.zhuguan"
ESCALATION_REASONS = ("needs on-site visit", "no known fix", "spare part needed",
                      "R&D analysis", "客户要求工程师处理")
# how the used fix is recorded: named at resolve (CLI --used), marked first (the intake
# page's "used" button), or both (marked, then named again at resolve)
RESOLVE_MODES = (("param", 45), ("link", 45), ("both", 10))
SATISFACTION = ((5, 45), (4, 30), (3, 12), (2, 8), (1, 5))
CHANNELS = (("phone", 40), ("email", 25), ("web", 25), ("onsite", 10))


# -- the fault themes of the demo KB, said many ways ---------------------------------------
@dataclass(frozen=True)
class Theme:
    name: str
    article: str
    category: str
    component: str
    severity: str
    serial: str
    product: str
    zh: tuple[str, ...]
    en: tuple[str, ...]
    zh_detail: tuple[str, ...]
    en_detail: tuple[str, ...]


THEMES = (
    Theme("disk", "DEMO-A-01", "storage", "nvr", "high", "NVR", "NVR-4216",
          ("{site}的NVR前面板报警灯常亮，界面提示“硬盘错误”，第{n}块盘状态异常，{d}。",
           "客户来电说{site}的录像机一直蜂鸣，存储管理里{n}号硬盘显示异常，{d}。",
           "{site}值班人员反映硬盘报错，NVR上{n}个通道{d}。"),
          ("The NVR at {site} beeps and shows HDD Error on disk {n}; {d}.",
           "Recorder in the {site} reports an abnormal hard disk in slot {n}, {d}.",
           "{site}: hard disk error on the NVR, {n} channels affected and {d}."),
          ("最近两天的录像查不到", "部分通道回放为空", "昨晚之后没有录像", "重启后仍然报警",
           "设备搬动后开始出现"),
          ("no footage for the last two days", "playback of several channels is empty",
           "recording stopped overnight", "the alarm comes back after a reboot",
           "it started after the unit was moved")),
    Theme("raid", "DEMO-A-02", "storage", "nvr", "high", "NVR", "NVR-4432R",
          ("{site}的存储服务器告警R123-78，RAID5阵列降级，第{n}块盘离线，{d}。",
           "{site}反映阵列状态显示“降级”，{n}号槽位硬盘不见了，{d}。"),
          ("RAID 5 array degraded alarm R123-78 on the recorder at {site}, disk {n} "
           "missing, {d}.",
           "{site} says the array shows Degraded and slot {n} is empty in Storage > RAID; "
           "{d}."),
          ("录像还在继续", "担心再坏一块盘", "邮件一直在报警", "重建没有自动开始"),
          ("recording still continues", "they worry a second disk will fail",
           "the e-mail alert keeps repeating", "no rebuild has started")),
    Theme("ipconflict", "DEMO-A-03", "network", "camera", "medium", "CAM", "DS-2CD2143G2-I",
          ("{site}的{n}号摄像机在客户端上时而离线、时而自动恢复，{d}。",
           "客户反映{site}有一台摄像机每天掉线好几次，ping时通时断，{d}。"),
          ("Camera {n} at {site} drops offline several times a day and comes back by "
           "itself; {d}.",
           "{site}: one camera keeps going grey in the client, ping replies come and go, "
           "{d}."),
          ("重启也没用", "其他摄像机正常", "最近新接入了打印机", "换了网线还是一样"),
          ("a reboot does not help", "the other cameras are fine",
           "a new printer was added last week", "a new patch cable changed nothing")),
    Theme("poe", "DEMO-A-04", "network", "switch", "high", "SW", "PoE-S2400",
          ("{site}同一台PoE交换机下的{n}台摄像机晚上轮流重启，{d}。",
           "{site}夜间红外一开，交换机上{n}个端口的摄像机就掉线，{d}。"),
          ("At {site}, {n} cameras on the same PoE switch reboot in turn after dark; {d}.",
           "{site} reports that cameras on {n} PoE ports go offline when the IR comes on, "
           "{d}."),
          ("白天一切正常", "交换机日志有功率超限", "新加了两台球机", "天冷时更严重"),
          ("daytime is fine", "the switch log says PoE power budget exceeded",
           "two PTZ domes were added recently", "worse on cold nights")),
    Theme("vlan", "DEMO-A-05", "network", "switch", "high", "SW", "S5720-28P",
          ("{site}更换交换机后该楼层{n}台摄像机全部离线，{d}。",
           "{site}新增一台接入交换机，{n}号楼的摄像机都连不上NVR，{d}。"),
          ("After the switch was replaced at {site}, all {n} cameras on that floor are "
           "offline; {d}.",
           "{site} added an access switch and the cameras in building {n} cannot reach "
           "the NVR, {d}."),
          ("电脑能上网", "端口灯都亮", "网络公司刚施工完", "其他楼层正常"),
          ("the PCs still have internet", "all port LEDs are on",
           "the network contractor just finished", "other floors work")),
    Theme("licence", "DEMO-A-08", "licence-login", "server", "high", "SRV", "VMS-Server 3",
          ("{site}的平台提示授权到期E-1043，无法再添加第{n}路摄像机，{d}。",
           "客户说{site}平台登录后弹出许可证过期，{n}个通道无法预览，{d}。"),
          ("The VMS at {site} says licence expired (E-1043) and camera {n} cannot be "
           "added; {d}.",
           "{site}: licence warning on the VMS server, {n} channels refuse to play, {d}."),
          ("上周还正常", "刚做过服务器迁移", "采购说已续费", "提示需要导入新许可"),
          ("it worked last week", "the server was migrated recently",
           "purchasing says the renewal was paid", "it asks for a new licence file")),
    Theme("login401", "DEMO-A-09", "licence-login", "client", "medium", "CLI", "VMS-Client 3",
          ("{site}的{n}台电脑客户端登录提示“HTTP 401 未授权”，{d}。",
           "{site}保安室客户端登录不上，报401未授权，试了{n}次，{d}。"),
          ("The client on {n} PCs at {site} fails to log in with HTTP 401 Unauthorized; "
           "{d}.",
           "{site} guard room cannot sign in to the client, 401 unauthorized after {n} "
           "tries, {d}."),
          ("网页端可以登录", "密码没有改过", "服务器时间好像不对", "更新客户端后出现"),
          ("the web page still works", "nobody changed the password",
           "the server clock looks wrong", "it began after a client update")),
    Theme("ir", "DEMO-A-10", "video", "camera", "medium", "CAM", "DS-2DE4425IW",
          ("{site}的{n}号半球摄像机夜间画面发白、雾蒙蒙的，{d}。",
           "客户反映{site}晚上画面一片白，{n}号机位尤其明显，{d}。"),
          ("Dome camera {n} at {site} shows a white, hazy image at night; {d}.",
           "{site}: the night picture of camera {n} is washed out and foggy, {d}."),
          ("白天清晰", "刚换过外罩", "安装在屋檐下", "擦过镜头也一样"),
          ("daytime is sharp", "the bubble was replaced", "it is mounted under the eaves",
           "cleaning the lens did not help")),
    Theme("ntp", "DEMO-A-14", "software", "nvr", "medium", "NVR", "NVR-4216",
          ("{site}的NVR和摄像机时间不一致，相差约{n}分钟，{d}。",
           "{site}反映录像上的时间戳每周快{n}分钟，{d}。"),
          ("The NVR and cameras at {site} disagree on the time by about {n} minutes; {d}.",
           "{site} says the timestamps on recordings drift {n} minutes a week, {d}."),
          ("查录像很难对上", "断电后更严重", "门禁时间也不对", "需要做证据导出"),
          ("footage is hard to match to events", "worse after power cuts",
           "the door system time is off too", "they need it for an evidence export")),
    Theme("ups", "DEMO-A-20", "power", "ups", "medium", "UPS", "UPS-3000",
          ("{site}的UPS一直在电池供电状态，后备时间只有{n}分钟，{d}。",
           "{site}机房UPS频繁报警切换到电池，{n}次一天，{d}。"),
          ("The UPS at {site} stays on battery and the runtime is only {n} minutes; {d}.",
           "{site}: the server-room UPS switches to battery {n} times a day, {d}."),
          ("市电看起来正常", "电池用了四年", "最近加了设备", "面板有黄灯"),
          ("mains looks fine", "the batteries are four years old",
           "more equipment was added", "a yellow LED is on")),
    Theme("door", "DEMO-A-25", "access-control", "terminal", "medium", "ACT", "DS-K1T671",
          ("{site}{n}号门禁刷卡认证成功，但门不开，{d}。",
           "客户反映{site}人脸识别通过、语音提示成功，{n}号门锁没反应，{d}。"),
          ("At {site}, door {n} accepts the card but the lock does not open; {d}.",
           "{site}: face check passes and the terminal says OK, yet door {n} stays locked, "
           "{d}."),
          ("昨天装修后出现", "其他门正常", "听不到继电器声音", "出门按钮也不行"),
          ("since renovation work yesterday", "the other doors are fine",
           "no relay click is heard", "the exit button does not work either")),
    Theme("crash", "DEMO-A-28", "software", "client", "medium", "CLI", "VMS-Client 3",
          ("{site}监控中心的客户端回放时闪退，电视墙{n}号屏也会卡死，{d}。",
           "{site}反映客户端一打开录像回放就崩溃，{n}台工作站都一样，{d}。"),
          ("The client at {site} crashes during playback and video-wall screen {n} "
           "freezes; {d}.",
           "{site}: the client closes as soon as playback starts, on {n} workstations, {d}."),
          ("升级显卡驱动后出现", "预览正常", "只在多画面时发生", "事件日志有错误"),
          ("it began after a graphics driver update", "live view is fine",
           "only with many tiles", "the event log shows an error")),
)
THEME = {t.name: t for t in THEMES}

SITES_ZH = ("华东仓库", "嘉兴工厂", "滨江小区", "南湖中学", "城西医院", "物流园三期", "万达广场",
            "高新区办公楼", "江北水厂", "北站停车场", "科技园B座", "新城幼儿园", "港口码头",
            "第二人民医院", "东湖宾馆", "金桥商场", "海关仓库", "市图书馆", "体育中心",
            "南门收费站")
SITES_EN = ("Riverside Mall", "North Depot", "Harbour Office", "Oak Street School",
            "Central Clinic", "Airport Cargo", "Lakeside Hotel", "Westgate Plant",
            "City Library", "Pine Hill Campus", "Eastside Garage", "Metro Station 4",
            "Bayview Apartments", "Summit Bank", "Greenfield Farm", "Union Warehouse",
            "Kingsway Hospital", "Marina Club", "Old Town Hall", "Silver Lake Lab")
OPENINGS_ZH = ("客户来电：", "邮件反馈：", "网页工单：", "现场人员报告：", "值班室反映：", "")
OPENINGS_EN = ("Customer called: ", "E-mail: ", "Web ticket: ", "Site staff report: ",
               "Night shift says: ", "")
CONTEXT_ZH = ("客户希望今天处理。", "影响夜间值班。", "已经持续三天了。", "上周也出现过一次。",
              "领导明天要来检查。", "现场没有IT人员。", "急需调取录像。", "值班电话分机{n}。",
              "设备去年刚安装。", "客户已经自己重启过。", "节假日前必须解决。", "涉及{n}个监控点。")
CONTEXT_EN = (" They want it fixed today.", " It affects the night shift.",
              " It has been going on for three days.", " It also happened once last week.",
              " An audit is due tomorrow.", " There is no IT person on site.",
              " They urgently need footage.", " Call back on extension {n}.",
              " The system was installed last year.", " They already rebooted it.",
              " Must be solved before the holiday.", " {n} camera points are involved.")
CUSTOMERS = ("华东物流有限公司", "嘉兴精密制造", "滨江物业", "南湖教育集团", "Acme Retail Ltd",
             "Northwind Logistics", "Harbour Trust", "Contoso Health", "Globex Security",
             "Initech Facilities", "城西医疗", "港务集团")
CONTACTS = ("张先生", "王女士", "李工", "刘经理", "Mr. Smith", "Ms. Jones", "Dr. Patel",
            "Tom Becker", "陈主任", "周师傅")


# -- the clock --------------------------------------------------------------------------------
class Clock:
    """Stands in for now_utc in every module that stamps times."""

    def __init__(self) -> None:
        self.t = LOADED_AT

    def __call__(self) -> str:
        return stamp(self.t)


def stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hours(n: float) -> timedelta:
    return timedelta(seconds=round(n * 3600))


def hours_between(a: datetime, b: datetime) -> float:
    return max((b - a).total_seconds() / 3600.0, 0.0)


# -- the plan: cases and what will be done to them ------------------------------------------
@dataclass
class Step:
    t: datetime
    action: str
    actor: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    key: str
    theme: Theme
    lang: str
    description: str
    site: str
    channel: str
    received: datetime
    received_text: str
    opener: str
    project: str | None = None
    customer: str = ""
    contact: str = ""
    serial: str = ""
    last_service: str = ""
    kind: str = ""
    steps: list[Step] = field(default_factory=list)
    duplicate_of: str | None = None  # plan key, by design
    recurrence_of: str | None = None  # plan key, by design

    def at(self, action: str) -> datetime | None:
        return next((s.t for s in self.steps if s.action == action), None)


class Generator:
    """Writes the six weeks: base cases of every kind, then duplicates and recurrences
    of some of them, then negative controls (same asset but too late or another fault;
    a copy of a closed case)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.plans: dict[str, Plan] = {}
        self.used_combos: set[tuple[str, str]] = set()
        self.serials: set[str] = set()
        self.claimed: set[str] = set()  # plans another plan copies: used once only
        self.shapes: set[tuple[str, int, int, int]] = set()

    # pieces
    def u(self, lo: float, hi: float) -> float:
        return self.rng.uniform(lo, hi)

    def pick(self, weighted: tuple[tuple[Any, int], ...]) -> Any:
        return self.rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]

    def serial(self, theme: Theme) -> str:
        while True:
            s = f"{theme.serial}{self.rng.randint(100000, 999999)}"
            if s not in self.serials:
                self.serials.add(s)
                return s

    def text(self, theme: Theme, lang: str, site: str) -> str:
        """Who reported it, the fault in one of the theme's wordings, one of its details,
        and something about the situation."""
        rng = self.rng
        zh = lang == "zh"
        templates = theme.zh if zh else theme.en
        details = theme.zh_detail if zh else theme.en_detail
        contexts = CONTEXT_ZH if zh else CONTEXT_EN
        while True:  # no two cases share wording, detail and situation
            shape = (theme.name, rng.randrange(len(templates)), rng.randrange(len(details)),
                     rng.randrange(len(contexts)))
            if shape not in self.shapes:
                self.shapes.add(shape)
                break
        fault = templates[shape[1]].format(site=site, n=rng.randint(2, 16), d=details[shape[2]])
        context = contexts[shape[3]].format(n=rng.randint(2, 40))
        return f"{rng.choice(OPENINGS_ZH if zh else OPENINGS_EN)}{fault}{context}"

    def received(self) -> datetime:
        """A weekday-heavy, office-hours-heavy time in the period (UTC)."""
        while True:
            day = START + timedelta(days=self.rng.randrange(DAYS))
            if day.weekday() < 5 or self.rng.random() < 0.3:
                break
        hour = self.u(0, 11) if self.rng.random() < 0.8 else self.u(0, 24)
        base = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return base + timedelta(minutes=round(hour * 60))

    def new_plan(self, key: str, theme: Theme, received: datetime, lang: str | None = None,
                 site: str | None = None, description: str | None = None) -> Plan:
        rng = self.rng
        lang = lang or rng.choice(("zh", "en"))
        if site is None:
            sites = SITES_ZH if lang == "zh" else SITES_EN
            free = [s for s in sites if (theme.name, s) not in self.used_combos]
            site = rng.choice(free or list(sites))
        self.used_combos.add((theme.name, site))
        # received_at as the agent typed it: UTC, or China time
        text = stamp(received) if rng.random() < 0.65 else received.astimezone(CST).isoformat()
        plan = Plan(key=key, theme=theme, lang=lang,
                    description=description or self.text(theme, lang, site), site=site,
                    channel=self.pick(CHANNELS), received=received, received_text=text,
                    opener=rng.choice(AGENTS), customer=rng.choice(CUSTOMERS),
                    contact=rng.choice(CONTACTS), serial=self.serial(theme),
                    project="sz" if rng.random() < 0.1 else None)
        if rng.random() < 0.3:
            plan.last_service = stamp(received - timedelta(days=rng.randint(20, 300)))
        # most are keyed in at once; mail that came in overnight waits a few hours
        late = self.u(1, 10) if plan.channel == "email" and rng.random() < 0.3 else 0.0
        plan.steps.append(Step(received + hours(late) + hours(self.u(0, 0.1)), "open",
                               plan.opener))
        self.plans[key] = plan
        return plan

    def add(self, plan: Plan, after: float, action: str, actor: str, **args: Any) -> datetime:
        t = plan.steps[-1].t + hours(after)
        plan.steps.append(Step(t, action, actor, args))
        return t

    def satisfaction(self) -> int:
        return self.pick(SATISFACTION)

    def severity(self, theme: Theme) -> str:
        return theme.severity if self.rng.random() < 0.8 else self.rng.choice(
            ("low", "medium", "high", "critical"))

    def resolution(self, plan: Plan, used: bool, cause: str = "") -> dict[str, Any]:
        fixes = {"zh": ("按知识库步骤处理，已恢复", "更换故障部件后恢复正常", "调整配置后观察正常"),
                 "en": ("Followed the known fix; back to normal", "Replaced the faulty part",
                        "Corrected the configuration and watched it for a day")}
        args: dict[str, Any] = {
            "fix": f"{self.rng.choice(fixes[plan.lang])} ({plan.site})",
            "severity": self.severity(plan.theme),
            "labels": {"category": plan.theme.category, "component": plan.theme.component},
            "used": used, "mode": self.pick(RESOLVE_MODES) if used else None}
        if cause:
            args["cause"] = cause
        return args

    # the tail every resolved case shares: confirm, close, follow-up
    def tail(self, plan: Plan, actor: str, confirm: float = 0.7, close: float = 0.9,
             follow: float = 0.15, came_back: float = 0.3) -> None:
        rng = self.rng
        if rng.random() < confirm:
            self.add(plan, self.u(2, 48), "confirm", actor, satisfaction=self.satisfaction())
        if rng.random() < close:
            self.add(plan, self.u(0.5, 24), "close", actor)
            if rng.random() < follow:
                back = rng.random() < came_back
                self.add(plan, self.u(72, 200), "follow_up", rng.choice(AGENTS),
                         came_back=back)
                if back:
                    eng = rng.choice(ENGINEERS)
                    self.add(plan, self.u(1, 4), "escalate", plan.opener, to=eng,
                             reason="问题复发 / problem came back")
                    self.add(plan, self.u(4, 30), "resolve", eng,
                             **self.resolution(plan, used=rng.random() < 0.3))
                    if rng.random() < 0.8:
                        self.add(plan, self.u(1, 24), "close", eng)

    def maybe_update(self, plan: Plan, amend: float = 0.05) -> None:
        """Now and then the agent changes intake details, corrects when the request
        really came in (typed in UTC or China time), or adds to the description."""
        rng = self.rng
        if rng.random() < 0.15:
            self.add(plan, 0.02, "update", plan.opener, contact=rng.choice(CONTACTS),
                     product=plan.theme.product)
        elif rng.random() < 0.05:
            self.add(plan, 0.03, "correct_received", plan.opener, earlier=self.u(0.5, 6),
                     china_time=rng.random() < 0.5)
        elif rng.random() < amend:
            extra = "（补充：客户补充了现场照片）" if plan.lang == "zh" else \
                " (update: the customer sent photos)"
            self.add(plan, 0.02, "amend", plan.opener, extra=extra)

    # the kinds of case
    def first_contact(self, plan: Plan) -> None:
        rng = self.rng
        self.maybe_update(plan)
        self.add(plan, self.u(0.1, 1.5), "start", plan.opener)
        if rng.random() < 0.2:
            self.add(plan, 0.1, "not_helpful", plan.opener)
        self.add(plan, self.u(0.2, 2), "resolve", plan.opener, **self.resolution(plan, True))
        self.tail(plan, plan.opener)

    def escalated(self, plan: Plan, reason: str | None = None, finish: bool = True) -> None:
        rng, agent = self.rng, plan.opener
        self.maybe_update(plan)
        if rng.random() < 0.6:
            self.add(plan, self.u(0.1, 1), "start", agent)
        if rng.random() < 0.4:
            self.add(plan, 0.2, "not_helpful", agent)
        eng = rng.choice(ENGINEERS)
        self.add(plan, self.u(0.3, 4), "escalate", agent, to=eng,
                 reason=reason or rng.choice(ESCALATION_REASONS))
        if rng.random() < 0.3:
            code = rng.choice(sorted(DELAY_REASONS))
            self.add(plan, self.u(1, 8), "delay", eng, code=code,
                     note="等待厂家回复" if code == "D" else "")
        worker, cause = eng, ""
        if rng.random() < 0.4:
            worker = eng if rng.random() < 0.7 else next(e for e in ENGINEERS if e != eng)
            planned = self.u(12, 36)
            self.add(plan, self.u(0.5, 3), "dispatch", eng, assignee=worker,
                     planned_in=planned)
            self.add(plan, planned + self.u(1, 3), "service_record", worker)
            cause = "现场检查确认" if plan.lang == "zh" else "Confirmed on site"
        if not finish:
            return
        if rng.random() < 0.5:
            self.add(plan, self.u(0.5, 6), "start", worker)
        self.add(plan, self.u(2, 40), "resolve", worker,
                 **self.resolution(plan, rng.random() < 0.3, cause))
        self.tail(plan, worker, confirm=0.6, close=0.85)

    def no_known_fix(self, plan: Plan) -> None:
        self.maybe_update(plan)
        self.add(plan, self.u(0.1, 2), "start", plan.opener)
        self.add(plan, self.u(0.5, 6), "resolve", plan.opener, **self.resolution(plan, False))
        self.tail(plan, plan.opener)

    def left_open(self, plan: Plan) -> None:
        rng = self.rng
        how = rng.choice(("triaged", "started", "escalated"))
        self.maybe_update(plan)
        if how == "started":
            self.add(plan, self.u(0.2, 30), "start", plan.opener)
        elif how == "escalated":
            self.escalated(plan, finish=False)
        if how != "escalated" and rng.random() < 0.4:
            code = rng.choice(sorted(DELAY_REASONS))
            self.add(plan, self.u(0.5, 5), "delay", plan.opener, code=code,
                     note="客户出差" if code == "D" else "")

    def generate(self, base: int = 270) -> dict[str, Plan]:
        rng = self.rng
        times = sorted(self.received() for _ in range(base))
        kinds = (("fcr", 38), ("escalated", 32), ("no_fix", 12), ("open", 8))
        for n, received in enumerate(times):
            plan = self.new_plan(f"c{n:03d}", rng.choice(THEMES), received)
            plan.kind = self.pick(kinds)
            {"fcr": self.first_contact, "escalated": self.escalated,
             "no_fix": self.no_known_fix, "open": self.left_open}[plan.kind](plan)
        self._duplicates(14)
        self._recurrences(14)
        self._controls()
        return self.plans

    def _duplicates(self, count: int) -> None:
        """Another caller reports an open case's fault; when the original is resolved,
        the agent reuses its fix (or leaves the duplicate to wait)."""
        rng = self.rng
        end = datetime.combine(END, datetime.min.time(), UTC)
        pool = [p for p in self.plans.values() if p.kind == "escalated"
                and p.at("resolve") and (p.at("resolve") - p.steps[0].t) > hours(20)
                and p.at("resolve") < end
                and not any(s.action in ("follow_up", "amend") for s in p.steps)]
        for n, orig in enumerate(rng.sample(pool, count)):
            self.claimed.add(orig.key)
            opened, resolved = orig.steps[0].t, orig.at("resolve")
            received = opened + hours(self.u(1, (resolved - opened).total_seconds() / 3600 - 2))
            # the same web form or e-mail text again (with the hashing test encoder only a
            # verbatim copy reliably scores above the duplicate threshold)
            plan = self.new_plan(f"d{n:02d}", orig.theme, received, orig.lang, orig.site,
                                 orig.description)
            plan.kind, plan.duplicate_of, plan.serial = "duplicate", orig.key, ""
            plan.customer = orig.customer
            if rng.random() < 0.7:
                plan.steps.append(Step(resolved + hours(self.u(0.5, 4)), "start",
                                       plan.opener))
                self.add(plan, 0.2, "resolve", plan.opener, fix="Same fix as the original",
                         severity=orig.theme.severity, used_case=orig.key,
                         labels={"category": orig.theme.category,
                                 "component": orig.theme.component},
                         used=True, mode="param")
                self.add(plan, self.u(1, 24), "close", plan.opener)

    def _recurrences(self, count: int) -> None:
        """The same asset fails the same way again within 30 days of the first report,
        after that case was closed."""
        rng = self.rng
        pool = []
        for p in self.plans.values():
            closed = p.at("close")
            if (p.kind in ("fcr", "escalated", "no_fix") and closed
                    and p.key not in self.claimed
                    and not any(s.action in ("follow_up", "amend") for s in p.steps)
                    and p.key[0] == "c"):
                window = p.received + timedelta(days=28) - (closed + hours(24))
                if window > hours(24) and closed + hours(24) < datetime.combine(
                        END, datetime.min.time(), UTC) - hours(48):
                    pool.append(p)
        for n, orig in enumerate(rng.sample(pool, count)):
            self.claimed.add(orig.key)
            closed = orig.at("close")
            last = min(orig.received + timedelta(days=28),
                       datetime.combine(END, datetime.min.time(), UTC) - hours(24))
            received = closed + hours(self.u(24, (last - closed).total_seconds() / 3600))
            prefix = "又出现了：" if orig.lang == "zh" else "It happened again: "
            plan = self.new_plan(f"r{n:02d}", orig.theme, received, orig.lang, orig.site,
                                 prefix + orig.description)
            plan.kind, plan.recurrence_of = "recurrence", orig.key
            plan.serial, plan.customer = orig.serial, orig.customer
            if n < 2:  # the agent corrects the description: triaged again, same result
                self.add(plan, 0.02, "amend", plan.opener,
                         extra="（补充：同一台设备）" if plan.lang == "zh" else
                         " (same unit as before)")
            self.escalated(plan, reason="recurrence")

    def _controls(self) -> None:
        """Same serial and fault but 31+ days later; same serial, another fault; a copy
        of a closed case (no serial): none is a recurrence or a duplicate."""
        rng = self.rng
        end = datetime.combine(END, datetime.min.time(), UTC)
        early = [p for p in self.plans.values() if p.key[0] == "c" and p.kind == "fcr"
                 and p.key not in self.claimed
                 and p.at("close") and p.received < end - timedelta(days=36)
                 and not any(s.action == "follow_up" for s in p.steps)]
        for n, orig in enumerate(rng.sample(early, 3)):
            self.claimed.add(orig.key)
            received = orig.received + timedelta(days=31 + n, hours=2)
            prefix = "又出现了：" if orig.lang == "zh" else "It happened again: "
            plan = self.new_plan(f"x{n}", orig.theme, received, orig.lang, orig.site,
                                 prefix + orig.description)
            plan.kind, plan.serial, plan.customer = "late_repeat", orig.serial, orig.customer
            self.first_contact(plan)
        closed = [p for p in self.plans.values() if p.key[0] == "c" and p.at("close")
                  and p.key not in self.claimed
                  and p.at("close") < end - timedelta(days=3)
                  and not any(s.action == "follow_up" for s in p.steps)]
        picked = rng.sample(closed, 6)
        self.claimed |= {p.key for p in picked}
        for n, orig in enumerate(picked[:3]):
            other = rng.choice([t for t in THEMES if t.category != orig.theme.category])
            received = orig.at("close") + hours(self.u(2, 48))
            plan = self.new_plan(f"y{n}", other, received, orig.lang, orig.site)
            plan.kind, plan.serial, plan.customer = "other_fault", orig.serial, orig.customer
            self.no_known_fix(plan)
        for n, orig in enumerate(picked[3:]):
            received = orig.at("close") + hours(self.u(2, 48))
            plan = self.new_plan(f"z{n}", orig.theme, received, orig.lang, orig.site,
                                 orig.description)
            plan.kind, plan.serial = "copy_of_closed", ""
            self.first_contact(plan)


# -- the ledger: what was done, and what the rules say that must cause ---------------------
@dataclass
class Entry:
    plan: Plan
    id: str = ""
    predicted_id: str = ""
    state: str = "new"
    # (action, actor, at, (from, to) of a state change or None)
    events: list[tuple[str, str, str, tuple[str, str] | None]] = field(default_factory=list)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (relation, target, actor)
    description: str = ""
    received: datetime = LOADED_AT  # as last entered (the plan keeps the first)
    assignee: str | None = None
    first_response: datetime | None = None
    resolved: datetime | None = None
    closed: datetime | None = None
    ever_resolved: bool = False
    escalation: dict | None = None
    delay: str | None = None
    satisfaction: int | None = None
    severity: str | None = None
    priority: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    resolved_with: str | None = None
    first_contact: int | None = None
    draft: str | None = None
    recurrence_of: str | None = None  # case id
    duplicate_of: str | None = None  # case id
    offers: int = 0
    retriaged: bool = False
    closes: list[str | None] = field(default_factory=list)  # resolved_with at each close
    cause: str = ""  # the confirmed cause: the service record's, or the resolver's
    reopened: bool = False  # reopened since its article was last drafted

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    def used(self) -> list[str]:
        return [t for rel, t, _ in self.links if rel == "used"]


@dataclass
class Draft:
    id: str
    case: Entry
    theme: str
    author: str
    state: str = "wip"
    updated: datetime | None = None
    reviewed: datetime | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # action, actor, at
    cause: str = ""
    related_to: str | None = None  # drafted again, with another cause, from the same case


class Replay:
    """Runs the plans in time order through a Desk, keeping the ledger."""

    def __init__(self, desk: Desk, clock: Clock, rng: random.Random,
                 users: dict[str, User]) -> None:
        self.desk, self.cases, self.knowledge = desk, desk.cases, desk.knowledge
        self.clock, self.rng, self.users = clock, rng, users
        self.entries: dict[str, Entry] = {}
        self.by_id: dict[str, Entry] = {}
        self.drafts: dict[str, Draft] = {}
        self.reused: Counter[str] = Counter()  # article key -> closes that reused it
        self.numbers: Counter[str] = Counter()  # 'PROJECT-YYYYMMDD-' -> cases so far
        self.checkpoints: list[tuple[datetime, dict, dict]] = []
        self.reviews: list[tuple[datetime, set[str], set[str]]] = []
        self.problems: list[str] = []
        self.calls: Counter[str] = Counter()

    # -- running ------------------------------------------------------------------------------
    def run(self, plans: dict[str, Plan], until: datetime) -> None:
        queue: list[tuple[datetime, int, Callable[[], None]]] = []
        order = 0
        for plan in plans.values():
            for step in plan.steps:
                queue.append((step.t, order, self._bind(plan, step)))
                order += 1
        for week in range(1, DAYS // 7 + 1):
            monday = datetime.combine(START + timedelta(weeks=week), datetime.min.time(), UTC)
            queue.append((monday + timedelta(hours=9), order, self._checkpoint))
            queue.append((monday + timedelta(hours=10), order + 1, self._review))
            order += 2
        heapq.heapify(queue)
        while queue:
            t, _, job = heapq.heappop(queue)
            if t > until:
                break
            self.clock.t = t
            job()

    def _bind(self, plan: Plan, step: Step) -> Callable[[], None]:
        def job() -> None:
            self.calls[step.action] += 1
            getattr(self, f"_{step.action}")(plan, step, self.users[step.actor])
        return job

    def _entry(self, plan: Plan) -> Entry:
        return self.entries[plan.key]

    def _did(self, e: Entry, action: str, actor: User) -> None:
        e.events.append((action, actor.username, self.clock(), None))

    def _moved(self, e: Entry, action: str, actor: User, to: str) -> None:
        """A state change: logged with where it came from and went to."""
        e.events.append((action, actor.username, self.clock(), (e.state, to)))
        e.state = to

    def _link(self, e: Entry, relation: str, target: str, actor: User) -> None:
        e.links.append((relation, target, actor.username))
        self._did(e, f"link:{relation}", actor)

    # -- intake and triage ----------------------------------------------------------------------
    def _open(self, plan: Plan, step: Step, actor: User) -> None:
        project = (plan.project or "KF").upper()
        prefix = f"{project}-{plan.received.astimezone(UTC):%Y%m%d}-"
        self.numbers[prefix] += 1
        e = Entry(plan, predicted_id=f"{prefix}{self.numbers[prefix]}",
                  description=plan.description, received=plan.received)
        case = self.cases.open(actor, plan.description, project=plan.project,
                               channel=plan.channel, customer=plan.customer,
                               contact=plan.contact, asset_model=plan.theme.product,
                               asset_serial=plan.serial, product=plan.theme.product,
                               received_at=plan.received_text,
                               last_service_at=plan.last_service)
        e.id, e.state, e.priority = case.id, "triaged", case.priority
        self.entries[plan.key], self.by_id[case.id] = e, e
        for action in ("created", "intake", "triage"):
            self._did(e, action, actor)
        if plan.recurrence_of:  # same serial, similar fault, within 30 days
            e.recurrence_of = self.entries[plan.recurrence_of].id
            self._link(e, "recurrence-of", f"case:{e.recurrence_of}", actor)
        if plan.duplicate_of and self.entries[plan.duplicate_of].open:
            e.duplicate_of = self.entries[plan.duplicate_of].id
            self._link(e, "duplicate-of", f"case:{e.duplicate_of}", actor)

    def _update(self, plan: Plan, step: Step, actor: User) -> None:
        e = self._entry(plan)
        case = self.cases.update(actor, e.id, **step.args)
        self._did(e, "update", actor)
        if case.priority != e.priority:
            self.problems.append(f"{e.id}: an intake update changed the priority")

    def _correct_received(self, plan: Plan, step: Step, actor: User) -> None:
        """The request came in earlier than first typed: deadlines count from then."""
        e = self._entry(plan)
        first = datetime.combine(START, datetime.min.time(), UTC)
        e.received = max(e.received - hours(step.args["earlier"]), first)
        text = e.received.astimezone(CST).isoformat() if step.args["china_time"] \
            else stamp(e.received)
        self.cases.update(actor, e.id, received_at=text)
        self._did(e, "update", actor)

    def _amend(self, plan: Plan, step: Step, actor: User) -> None:
        """A corrected description is triaged again; the links it already has stay as
        they are (one recurrence-of, one duplicate-of)."""
        e = self._entry(plan)
        e.description += step.args["extra"]
        case = self.cases.update(actor, e.id, description=e.description)
        e.priority, e.retriaged = case.priority, True
        self._did(e, "update", actor)
        self._did(e, "retriage", actor)

    # -- working the case -----------------------------------------------------------------------
    def _start(self, plan: Plan, step: Step, actor: User) -> None:
        e = self._entry(plan)
        self.cases.start(actor, e.id)
        e.assignee = e.assignee or actor.username
        e.first_response = e.first_response or self.clock.t
        self._moved(e, "start", actor, "in_progress")

    def _not_helpful(self, plan: Plan, step: Step, actor: User) -> None:
        e = self._entry(plan)
        target = "article:" + self.rng.choice(
            [t.article for t in THEMES if t.category != plan.theme.category])
        self.cases.link_fix(actor, e.id, target, helpful=False)
        self._link(e, "not-helpful", target, actor)

    def _escalate(self, plan: Plan, step: Step, actor: User) -> None:
        e = self._entry(plan)
        tried = [{"fix": t, "outcome": rel} for rel, t, _ in e.links
                 if rel in ("used", "not-helpful")]
        case = self.cases.escalate(actor, e.id, step.args["to"], step.args["reason"])
        if case.fields["escalation"]["tried"] != tried:
            self.problems.append(f"{e.id}: escalation packet lists {case.fields['escalation']}")
        e.assignee = step.args["to"]
        e.escalation = {"to": step.args["to"], "reason": step.args["reason"],
                        "by": actor.username, "at": self.clock.t}
        e.first_response = e.first_response or self.clock.t
        self._moved(e, "escalate", actor, "escalated")

    def _delay(self, plan: Plan, step: Step, actor: User) -> None:
        e = self._entry(plan)
        self.cases.set_delay(actor, e.id, step.args["code"], step.args["note"])
        e.delay = step.args["code"]
        self._did(e, "delay", actor)

    def _dispatch(self, plan: Plan, step: Step, actor: User) -> None:
        e = self._entry(plan)
        planned = stamp(self.clock.t + hours(step.args["planned_in"]))
        self.cases.dispatch(actor, e.id, step.args["assignee"], planned, plan.site,
                            tools=["ladder", "laptop"], parts=[plan.theme.product])
        e.assignee = step.args["assignee"]
        self._did(e, "dispatch", actor)

    def _service_record(self, plan: Plan, step: Step, actor: User) -> None:
        e = self._entry(plan)
        self.cases.record_service(actor, e.id, cause="on-site check", steps="replaced part",
                                  parts_used=[plan.theme.product], result="ok")
        e.cause = "on-site check"
        self._did(e, "service_record", actor)

    def _fix_for(self, e: Entry) -> str:
        """The known fix the worker picks: mostly the theme's article, sometimes an
        article drafted (and reviewed) from an earlier case, or an earlier closed case."""
        theme = e.plan.theme
        drafts = sorted(d.id for d in self.drafts.values()
                        if d.theme == theme.name and d.state in ("validated", "not_validated"))
        earlier = sorted(o.id for o in self.entries.values()
                         if o.plan.theme is theme and o.state == "closed" and o is not e)
        r = self.rng.random()
        if r < 0.15 and drafts:
            return "article:" + self.rng.choice(drafts)
        if r < 0.3 and earlier:
            return "case:" + self.rng.choice(earlier)
        return "article:" + theme.article

    def _resolve(self, plan: Plan, step: Step, actor: User) -> None:
        e, a = self._entry(plan), step.args
        target = None
        if a.get("used_case"):
            target = "case:" + self.entries[a["used_case"]].id
        elif a["used"]:
            target = self._fix_for(e)
        extra = {k: a[k] for k in ("cause",) if k in a}
        e.cause = a.get("cause") or e.cause
        if a["mode"] in ("link", "both"):
            self.cases.link_fix(actor, e.id, target)
            self._link(e, "used", target, actor)
        if a["mode"] == "link":
            self.cases.resolve(actor, e.id, a["fix"], labels=a["labels"],
                               severity=a["severity"], **extra)
        else:
            self.cases.resolve(actor, e.id, a["fix"], used=target, labels=a["labels"],
                               severity=a["severity"], **extra)
            if target:
                self._link(e, "used", target, actor)
        used = e.used()
        e.resolved_with = target or (used[-1] if used else None)
        e.first_contact = int(bool(used) and e.escalation is None)
        e.resolved, e.ever_resolved = self.clock.t, True
        e.first_response = e.first_response or self.clock.t
        e.severity, e.labels = a["severity"], dict(a["labels"])
        self._moved(e, "resolve", actor, "resolved")
        for dup in self.entries.values():  # open duplicates are offered the fix
            if dup.duplicate_of == e.id and dup.open:
                dup.offers += 1
                self._did(dup, "fix-offered", actor)

    def _confirm(self, plan: Plan, step: Step, actor: User) -> None:
        e = self._entry(plan)
        self.cases.confirm(actor, e.id, step.args["satisfaction"])
        e.satisfaction = step.args["satisfaction"]
        self._moved(e, "confirm", actor, "confirmed")

    def _close(self, plan: Plan, step: Step, actor: User) -> None:
        """Closing captures the case as a wip article, unless it was resolved with an
        existing article (then the reuse is logged) or already has its draft; closed
        again after a reopen, its draft gets a new version for review (a new related
        article when the confirmed cause changed)."""
        e = self._entry(plan)
        self.cases.close(actor, e.id)
        e.closed = self.clock.t
        e.closes.append(e.resolved_with)
        self._moved(e, "close", actor, "closed")
        if (e.resolved_with or "").startswith("article:"):
            self.reused[e.resolved_with] += 1
            reused = self.drafts.get(e.resolved_with.partition(":")[2])
            if reused:
                reused.events.append(("article:reused", actor.username, self.clock()))
        elif e.draft is None:
            self._draft(e, actor)
        elif e.reopened:  # closed again after a reopen: captured again
            d = self.drafts[e.draft]
            if e.cause and d.cause and e.cause != d.cause:
                self._draft(e, actor, related_to=d.id)
            else:
                d.cause = e.cause or d.cause
                d.state = "wip" if d.state == "wip" else "not_validated"
                d.updated = self.clock.t
                d.events.append(("redraft", actor.username, self.clock()))
        if not (e.resolved_with or "").startswith("article:"):
            e.reopened = False

    def _draft(self, e: Entry, actor: User, related_to: str | None = None) -> None:
        e.draft = f"KA-{len(self.drafts) + 1:06d}"
        author = e.assignee or actor.username
        self.drafts[e.draft] = Draft(e.draft, e, e.plan.theme.name, author,
                                     updated=self.clock.t, cause=e.cause, related_to=related_to,
                                     events=[("created", actor.username, self.clock()),
                                             ("draft", actor.username, self.clock())])
        self._link(e, "created-from", f"article:{e.draft}", actor)

    def _follow_up(self, plan: Plan, step: Step, actor: User) -> None:
        e = self._entry(plan)
        came_back = step.args["came_back"]
        self.cases.follow_up(actor, e.id, "came_back" if came_back else "solved",
                             "客户回访" if came_back else "")
        self._did(e, "follow_up", actor)
        if came_back:
            e.closed, e.resolved, e.reopened = None, None, True
            self._moved(e, "reopen", actor, "in_progress")

    # -- the weekly jobs ------------------------------------------------------------------------
    def _checkpoint(self) -> None:
        """Monday 09:00: what needs attention now, by the service and by the ledger."""
        got = self.cases.attention(now=self.clock.t)
        self.checkpoints.append((self.clock.t, expected_attention(self, self.clock.t),
                                 {k: [c.id for c in v] for k, v in got.items()}))

    def _review(self) -> None:
        """Monday 10:00: drafts are submitted by their authors and reviewed by the
        manager (validated, sent back, or left waiting)."""
        boss = self.users[MANAGER]
        queue = {a.id for a in self.knowledge.review_queue()}
        self.reviews.append((self.clock.t, queue, {
            d.id for d in self.drafts.values() if d.state in ("wip", "not_validated")}))
        for article_id in sorted(queue & set(self.drafts)):
            d = self.drafts[article_id]
            if d.state == "wip":
                if self.rng.random() >= 0.7:
                    continue
                self.knowledge.submit(self.users[d.author], d.id)
                d.state, d.updated = "not_validated", self.clock.t
                d.events.append(("submit", d.author, self.clock()))
            r = self.rng.random()
            if r < 0.75:
                self.knowledge.validate(boss, d.id)
                d.state, d.reviewed, d.updated = "validated", self.clock.t, self.clock.t
                d.events.append(("validate", boss.username, self.clock()))
            elif r < 0.85:
                self.knowledge.reject(boss, d.id, "add the exact steps")
                d.state, d.updated = "wip", self.clock.t
                d.events.append(("reject", boss.username, self.clock()))


def deadline(settings, e: Entry) -> datetime | None:
    """The deadline that applies now: response until first response, then resolution,
    counted from receipt by the priority's hours."""
    hrs = settings.deadline_hours(e.priority)
    if not hrs:
        return None
    return e.received + hours(hrs[1] if e.first_response else hrs[0])


def expected_attention(replay: Replay, now: datetime) -> dict[str, list[str]]:
    s = replay.desk.engine.settings
    out: dict[str, list[str]] = {"overdue": [], "at_risk": []}
    for e in replay.entries.values():
        due = deadline(s, e) if e.open else None
        if due is None:
            continue
        if now > due:
            out["overdue"].append(e.id)
        elif (due - now) < (due - e.received) * s.at_risk_share:
            out["at_risk"].append(e.id)
    return out


# -- the world: one replay per module ----------------------------------------------------------
@dataclass
class World:
    desk: Desk
    replay: Replay
    plans: dict[str, Plan]
    users: dict[str, User]
    seconds: float

    @property
    def entries(self) -> list[Entry]:
        return list(self.replay.entries.values())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    import time

    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("KNOWNFIX_"):
                mp.delenv(name)
        clock = Clock()
        for module in (service.cases, service.knowledge, service.auth, kb.store):
            mp.setattr(module, "now_utc", clock)
        # six sign-ins: a cheap Argon2 setting instead of ~0.6 s per password
        mp.setattr(service.auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                           parallelism=1))
        # no self-tuning in the background: it would change the ranking mid-replay (and
        # each run costs more than the replay itself); tuning has tests of its own
        settings = load_settings(str(tmp_path_factory.mktemp("replay")), model="hash:256",
                                 vector_backend="numpy", auto_tune=False, **MATCHING)
        desk = Desk.open(settings)
        load_demo(desk.engine)
        roles = {**dict.fromkeys(AGENTS, "first_line"), **dict.fromkeys(ENGINEERS, "engineer"),
                 MANAGER: "manager"}
        users = {name: desk.users.add(SYSTEM, name, PASSWORD, role)
                 for name, role in roles.items()}
        learner = desk.engine._triage_with().learner
        retrain, trained = learner.current, {}

        def weekly(block: bool = False):
            week = clock.t.isocalendar()[:2]
            if trained.get("week") != week or learner.models is None:
                trained["week"] = week
                return retrain(True)  # the week's retrain, whatever the last one took
            return learner.models

        mp.setattr(learner, "current", weekly)
        rng = random.Random(SEED)
        plans = Generator(rng).generate()
        replay = Replay(desk, clock, rng, users)
        t0 = time.perf_counter()
        replay.run(plans, NOW)
        seconds = time.perf_counter() - t0
        clock.t = NOW
        yield World(desk, replay, plans, users, seconds)
        desk.close()


@pytest.fixture(scope="module")
def report(world: World) -> dict:
    return world.desk.reports.summary(world.users[MANAGER], START.isoformat(),
                                      END.isoformat(), stale_days=STALE_DAYS, now=NOW)


def _actions(world: World, e: Entry) -> list[dict]:
    return world.desk.engine.kb.events(f"case:{e.id}", limit=10_000)


def _links(world: World, e: Entry) -> list[dict]:
    return world.desk.engine.kb.links(e.id)


# -- the stream itself ------------------------------------------------------------------------
def test_the_stream_is_big_and_varied(world: World) -> None:
    entries, calls = world.entries, world.replay.calls
    assert len(entries) >= 290
    assert {e.plan.lang for e in entries} == {"zh", "en"}
    assert {e.plan.channel for e in entries} == {"phone", "email", "web", "onsite"}
    assert len({e.plan.theme.name for e in entries}) == len(THEMES)
    assert Counter(e.delay for e in entries if e.delay).keys() == set(DELAY_REASONS)
    assert calls["dispatch"] >= 20 and calls["service_record"] >= 15
    assert calls["confirm"] >= 100 and calls["close"] >= 150
    assert sum(1 for e in entries if any(ev[0] == "reopen" for ev in e.events)) >= 2
    assert sum(1 for e in entries if e.open) >= 15
    assert sum(1 for e in entries if e.recurrence_of) >= 10
    assert sum(1 for e in entries if e.duplicate_of) >= 10
    assert sum(1 for e in entries if e.offers) >= 5
    assert len(world.replay.drafts) >= 50
    acted = {ev[1] for e in entries for ev in e.events}
    assert set(AGENTS) | set(ENGINEERS) <= acted


def test_nothing_went_wrong_in_flight(world: World) -> None:
    assert world.replay.problems == []


# -- case numbers -------------------------------------------------------------------------------
def test_case_numbers_count_per_project_and_day(world: World) -> None:
    ids = [e.id for e in world.entries]
    assert len(set(ids)) == len(ids)
    assert [e.id for e in world.entries] == [e.predicted_id for e in world.entries]
    per_day: dict[str, list[int]] = defaultdict(list)
    for e in world.entries:
        m = re.fullmatch(r"(KF|SZ)-(\d{8})-(\d+)", e.id)
        assert m, e.id
        assert m[2] == e.plan.received.astimezone(UTC).strftime("%Y%m%d")
        assert m[1] == (e.plan.project or "KF").upper()
        per_day[f"{m[1]}-{m[2]}"].append(int(m[3]))
    for numbers in per_day.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
    assert any(len(v) >= 5 for v in per_day.values()) and any(k[:2] == "SZ" for k in per_day)


# -- states and fields --------------------------------------------------------------------------
def test_every_case_ends_as_the_ledger_says(world: World) -> None:
    wrong = []
    for e in world.entries:
        case = world.desk.cases.get(e.id)
        f = case.fields
        esc = f["escalation"] or {}
        got = (case.state, f.get("assignee"), f.get("first_response_at"), f.get("resolved_at"),
               f.get("closed_at"), f.get("satisfaction"), (f["delay"] or {}).get("code"),
               (esc.get("to"), esc.get("reason"), esc.get("by"), esc.get("at")),
               case.severity, f.get("first_contact"), f.get("resolved_with"),
               f.get("recurrence_of"), f.get("duplicate_of"), case.priority,
               case.description, f.get("received_at"), f.get("channel"), f.get("project"),
               f.get("due_response"), f.get("due_resolution"))
        esc_want = e.escalation or {}
        want = (e.state, e.assignee, _stamp(e.first_response), _stamp(e.resolved),
                _stamp(e.closed), e.satisfaction, e.delay,
                (esc_want.get("to"), esc_want.get("reason"), esc_want.get("by"),
                 _stamp(esc_want.get("at"))),
                e.severity, e.first_contact, e.resolved_with, e.recurrence_of,
                e.duplicate_of, e.priority, e.description, stamp(e.received),
                e.plan.channel, (e.plan.project or "KF").upper(), *_dues(world, e))
        if got != want:
            wrong.append((e.id, e.plan.kind, [(n, g, w) for n, (g, w) in enumerate(
                zip(got, want, strict=True)) if g != w]))
    assert wrong == []
    states = Counter(c.state for c in world.desk.cases.list(limit=10_000)
                     if c.id in world.replay.by_id)
    assert states == Counter(e.state for e in world.entries)


def _dues(world: World, e: Entry) -> tuple[str | None, str | None]:
    """Response and resolution deadlines: receipt plus the priority's hours."""
    hrs = world.desk.engine.settings.deadline_hours(e.priority)
    return (stamp(e.received + hours(hrs[0])), stamp(e.received + hours(hrs[1]))) if hrs \
        else (None, None)


def _stamp(t: datetime | None) -> str | None:
    return stamp(t) if t else None


def test_recurrence_raises_priority_and_controls_are_not_flagged(world: World) -> None:
    levels = world.desk.engine.settings.levels
    for e in world.entries:
        triage = world.desk.cases.get(e.id).triage
        if e.recurrence_of:
            raised = levels[min(levels.index(triage.severity) + 1, len(levels) - 1)]
            assert e.priority == raised, e.id
            assert any(r.startswith("recurrence of") for r in triage.reasons)
        else:
            assert e.priority == triage.severity, e.id
    kinds = Counter(e.plan.kind for e in world.entries
                    if e.plan.kind in ("late_repeat", "other_fault", "copy_of_closed"))
    assert kinds == {"late_repeat": 3, "other_fault": 3, "copy_of_closed": 3}


# -- the event log ------------------------------------------------------------------------------
def test_each_case_has_exactly_the_expected_events_in_order(world: World) -> None:
    """Actions, actors and times in order, and for each state change where it came
    from and went to; the triage's suggestions are checked below."""
    wrong = {}
    for e in world.entries:
        got = []
        for ev in _actions(world, e):
            if ev["action"] == "link:suggested":
                continue
            detail = json.loads(ev["detail"])
            moved = (detail["from"], detail["to"]) if "to" in detail else None
            got.append((ev["action"], ev["actor"], ev["at"], moved))
        if got != e.events:
            wrong[e.id] = (e.plan.kind, got, e.events)
    assert wrong == {}
    assert sum(len(e.events) for e in world.entries) >= 2500


def test_suggestions_are_the_triage_matches_and_the_offered_fixes(world: World) -> None:
    for e in world.entries:
        suggested = [ev for ev in _actions(world, e) if ev["action"] == "link:suggested"]
        links = [lk for lk in _links(world, e) if lk["relation"] == "suggested"]
        assert len(suggested) == len(links)
        offered = [lk for lk in links if lk["target"] == f"case:{e.duplicate_of}"]
        assert len(offered) == e.offers, e.id
        matches = {m.key for m in world.desk.cases.get(e.id).triage.matches}
        from_triage = [lk["target"] for lk in links if lk not in offered]
        assert len(from_triage) == len(set(from_triage)), e.id  # never suggested twice
        if not e.retriaged:
            assert set(from_triage) == matches, e.id
        else:
            assert matches <= set(from_triage)


# -- links ----------------------------------------------------------------------------------------
def test_links_are_what_was_done(world: World) -> None:
    kept = ("used", "not-helpful", "created-from", "recurrence-of", "duplicate-of")
    wrong = {}
    for e in world.entries:
        got = [(lk["relation"], lk["target"], lk["actor"]) for lk in _links(world, e)
               if lk["relation"] in kept]
        if got != e.links:
            wrong[e.id] = (got, e.links)
    assert wrong == {}
    db = world.desk.engine.kb.db
    totals = dict(db.execute("SELECT relation, COUNT(*) FROM links GROUP BY relation")
                  .fetchall())
    want = Counter(rel for e in world.entries for rel, _, _ in e.links)
    assert {k: totals.get(k, 0) for k in kept} == {k: want[k] for k in kept}


# -- knowledge capture ------------------------------------------------------------------------
def test_closing_drafts_an_article_unless_an_article_was_reused(world: World) -> None:
    kn = world.desk.knowledge
    drafted = {a.id: a for a in kn.list() if a.source_case}
    assert set(drafted) == set(world.replay.drafts)
    # one draft per case closed (at least once) without reusing an existing article
    not_reused = [e for e in world.entries
                  if any(not (used or "").startswith("article:") for used in e.closes)]
    related = [d for d in world.replay.drafts.values() if d.related_to]
    assert len(drafted) == len(not_reused) + len(related)
    assert {d.case.id for d in world.replay.drafts.values()} == {e.id for e in not_reused}
    for d in world.replay.drafts.values():
        art = drafted[d.id]
        assert (art.source_case, art.state, art.author) == (d.case.id, d.state, d.author)
        assert kn.sources(d.id) == [d.case.id] and art.related_to == d.related_to
        assert art.reviewed_at == _stamp(d.reviewed)
        assert art.updated_at == _stamp(d.updated)
        events = [(ev["action"], ev["actor"], ev["at"]) for ev in
                  world.desk.engine.kb.events(f"article:{d.id}")]
        assert events == d.events, d.id
        assert [(v["action"], v["actor"], v["at"]) for v in kn.versions(d.id)] == [
            ev for ev in d.events[1:] if ev[0] != "article:reused"]
    reused = Counter(ev["target"] for ev in world.desk.engine.kb.events(limit=100_000)
                     if ev["action"] == "article:reused")
    assert reused == world.replay.reused
    assert sum(reused.values()) >= 50


def test_the_weekly_review_queue_held_the_waiting_drafts(world: World) -> None:
    assert len(world.replay.reviews) == 5
    for _t, got, want in world.replay.reviews:
        assert got == want
    states = Counter(d.state for d in world.replay.drafts.values())
    assert states["validated"] >= 10 and states["wip"] >= 1


# -- deadlines ------------------------------------------------------------------------------------
def test_attention_lists_the_open_cases_past_or_near_their_deadline(world: World) -> None:
    got = world.desk.cases.attention(now=NOW)
    want = expected_attention(world.replay, NOW)
    assert {k: {c.id for c in v} for k, v in got.items()} == {k: set(v) for k, v in
                                                             want.items()}
    assert len(want["overdue"]) >= 5
    dues = [c.fields.get("due_resolution") or "" for c in got["overdue"]]
    assert dues == sorted(dues)
    for now, want_then, got_then in world.replay.checkpoints:
        assert {k: set(v) for k, v in got_then.items()} == \
            {k: set(v) for k, v in want_then.items()}, now
    assert len(world.replay.checkpoints) == 6  # Mondays 09:00, the last one is NOW


# -- the manager's report, recomputed from the ledger -------------------------------------------
def _count(values) -> dict[str, int]:
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def _spread(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(values), "median": round(float(statistics.median(values)), 2),
            "p90": round(float(np.percentile(values, 90)), 2)}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _severity(e: Entry) -> str:
    return e.severity or e.priority or "(none)"


def _week(d: date) -> str:
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def test_report_period_and_volume(world: World, report: dict) -> None:
    entries = world.entries
    assert report["period"] == {"start": START.isoformat(), "end": END.isoformat(),
                                "cases": len(entries)}
    volume = report["volume"]
    assert volume["by_channel"] == _count(e.plan.channel for e in entries)
    assert volume["by_state"] == _count(e.state for e in entries)
    assert volume["by_severity"] == _count(_severity(e) for e in entries)
    levels = list(reversed(world.desk.engine.settings.levels))
    assert list(volume["by_severity"]) == [lv for lv in levels if lv in volume["by_severity"]]
    for name in ("category", "component"):
        want = []
        for e in entries:
            if e.ever_resolved:  # confirmed at resolution
                want.append(e.labels[name])
            else:  # what triage predicted
                triage = world.desk.cases.get(e.id).triage
                want.append(triage.predicted.get(name) or "(none)")
        assert volume["by_label"][name] == _count(want)


def test_report_outcomes(world: World, report: dict) -> None:
    entries = world.entries
    resolved = [e for e in entries if e.resolved]
    first = [e for e in resolved if e.first_contact == 1]
    escalated = [e for e in entries if e.escalation]
    delays = Counter(e.delay for e in entries if e.delay)
    assert report["outcomes"] == {
        "cases": len(entries), "resolved": len(resolved),
        "first_contact_resolved": len(first),
        "first_contact_rate": _rate(len(first), len(resolved)),
        "escalated": len(escalated), "escalation_rate": _rate(len(escalated), len(entries)),
        "escalation_reasons": _count(e.escalation["reason"] for e in escalated),
        "escalation_targets": _count(e.escalation["to"] for e in escalated),
        "delayed": sum(delays.values()),
        "delay_reasons": {code: delays.get(code, 0) for code in "ABCD"},
    }
    # first contact: a known fix used and never escalated
    assert {e.id for e in first} == {e.id for e in resolved
                                     if e.used() and e.escalation is None}
    assert 0.3 < report["outcomes"]["first_contact_rate"] < 0.8


def test_report_timing(world: World, report: dict) -> None:
    levels = list(reversed(world.desk.engine.settings.levels))
    for name, attr in (("first_response_hours", "first_response"),
                       ("resolution_hours", "resolved")):
        by_sev: dict[str, list[float]] = defaultdict(list)
        for e in world.entries:
            if getattr(e, attr):
                by_sev[_severity(e)].append(hours_between(e.received, getattr(e, attr)))
        order = [lv for lv in levels if lv in by_sev] + sorted(set(by_sev) - set(levels))
        every = [h for v in by_sev.values() for h in v]
        want = [{"severity": s, **_spread(by_sev[s])} for s in order]
        assert report["timing"][name] == [*want, {"severity": "(all)", **_spread(every)}]
    overall = report["timing"]["resolution_hours"][-1]
    assert overall["n"] >= 150 and overall["median"] > 0


def test_report_satisfaction(world: World, report: dict) -> None:
    scores = [e.satisfaction for e in world.entries if e.satisfaction is not None]
    assert report["satisfaction"] == {
        "n": len(scores), "mean": round(statistics.fmean(scores), 2),
        "distribution": {str(k): scores.count(k) for k in range(1, 6)}}
    assert all(report["satisfaction"]["distribution"].values())


def test_report_per_engineer(world: World, report: dict) -> None:
    entries = world.entries
    names = {e.assignee for e in entries if e.assignee} | {
        e.escalation["by"] for e in entries if e.escalation}
    want = []
    for name in sorted(names):
        mine = [e for e in entries if e.assignee == name]
        done = [e for e in mine if e.resolved]
        hrs = [hours_between(e.received, e.resolved) for e in done]
        rated = [float(e.satisfaction) for e in mine if e.satisfaction is not None]
        want.append({
            "assignee": name, "cases": len(mine), "resolved": len(done),
            "escalated": sum(1 for e in entries if e.escalation
                             and e.escalation["by"] == name),
            "escalated_to_them": sum(1 for e in mine if e.escalation
                                     and e.escalation["to"] == name),
            "median_resolution_hours": round(statistics.median(hrs), 2) if hrs else None,
            "mean_satisfaction": round(statistics.fmean(rated), 2) if rated else None})
    assert report["engineers"] == want
    assert {p["assignee"] for p in want} == set(AGENTS) | set(ENGINEERS)


def _live(world: World) -> dict[str, str | None]:
    """Article key -> state, for the articles offered as known fixes now."""
    live = {f"article:{r['id']}": r["state"] for r in world.desk.engine.kb.db.query(
        "SELECT id, state FROM articles")}
    return {k: s for k, s in live.items() if s in ("validated", "not_validated", None)}


def test_report_knowledge(world: World, report: dict) -> None:
    entries, drafts = world.entries, world.replay.drafts
    live = {f"article:{t.article}" for t in THEMES} | {
        f"article:{d.id}" for d in drafts.values() if d.state in ("validated", "not_validated")}
    assert live <= set(_live(world))
    assert set(_live(world)) - live == {k for k in _live(world) if k.startswith(
        "article:DEMO-")} - live  # the other demo articles
    closed = [e for e in entries if e.state == "closed"]
    linked = [e for e in closed if e.resolved_with or e.used() or any(
        rel == "created-from" and target in live for rel, target, _ in e.links)]
    k = report["knowledge"]
    assert (k["closed"], k["linked"], k["link_rate"]) == (
        len(closed), len(linked), _rate(len(linked), len(closed)))
    # reuse: how many cases used the article (a fix marked twice in one case is one use)
    uses = Counter(t for e in entries for t in set(e.used()) if t.startswith("article:"))
    assert [(a["id"], a["uses"]) for a in k["reuse"]] == sorted(
        uses.items(), key=lambda kv: (-kv[1], kv[0]))
    for a in k["reuse"]:
        assert world.desk.knowledge.usage(a["id"].partition(":")[2])["used"] == a["uses"]
    assert any(len(e.used()) > len(set(e.used())) for e in entries)
    ever_used = {t for e in entries for t in e.used()}
    assert [a["id"] for a in k["never_used"]] == sorted(set(_live(world)) - ever_used)
    unhelpful = Counter(t for e in entries for t in {t for rel, t, _ in e.links
                                                      if rel == "not-helpful"})
    assert [(a["id"], a["count"]) for a in k["not_helpful"]] == sorted(
        unhelpful.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    # stale: the demo articles (imported as validated before the period) and validated
    # drafts, last reviewed or changed more than STALE_DAYS before NOW
    stale = {f"article:{d.id}": d.reviewed for d in drafts.values() if d.state == "validated"}
    stale.update({key: LOADED_AT for key in _live(world) if key.startswith("article:DEMO-")})
    want = sorted(((key, (NOW - t).days) for key, t in stale.items()
                   if (NOW - t).days > STALE_DAYS), key=lambda kv: (-kv[1], kv[0]))
    assert [(a["id"], a["age_days"]) for a in k["stale"]] == want
    assert 0.5 < k["link_rate"] <= 1.0


def test_report_gaps_are_the_cases_without_a_confident_match(world: World,
                                                             report: dict) -> None:
    threshold = world.desk.engine.settings.match_threshold
    gaps = {e.id for e in world.entries
            if world.desk.cases.get(e.id).triage.best_score < threshold}
    assert report["gaps"]["cases"] == len(gaps)
    assert {i for g in report["gaps"]["clusters"] for i in g["case_ids"]} == gaps


def test_weekly_counts(world: World) -> None:
    weeks = world.desk.reports.weekly(world.users[MANAGER], START.isoformat(), END.isoformat())
    want = {_week(START + timedelta(weeks=n)): Counter() for n in range(DAYS // 7)}
    for e in world.entries:
        want[_week(e.received.date())]["opened"] += 1
        if e.resolved and e.resolved < datetime.combine(END, datetime.min.time(), UTC):
            want[_week(e.resolved.date())]["resolved"] += 1
        if e.escalation and e.escalation["at"] < datetime.combine(END, datetime.min.time(),
                                                                  UTC):
            want[_week(e.escalation["at"].date())]["escalated"] += 1
    assert [(w["week"], w["opened"], w["resolved"], w["escalated"]) for w in weeks] == [
        (week, c["opened"], c["resolved"], c["escalated"]) for week, c in want.items()]
    assert sum(w["opened"] for w in weeks) == len(world.entries)


def test_coverage_per_week(world: World) -> None:
    cov = world.desk.reports.coverage(world.users[MANAGER], START.isoformat(), END.isoformat())
    live = set(_live(world))
    threshold = world.desk.engine.settings.match_threshold
    want = {_week(START + timedelta(weeks=n)): Counter() for n in range(DAYS // 7)}
    for e in world.entries:
        row = want[_week(e.received.date())]
        row["cases"] += 1
        row["no_match"] += world.desk.cases.get(e.id).triage.best_score < threshold
        if e.state == "closed":
            row["closed"] += 1
            row["linked"] += bool(e.resolved_with or e.used() or any(
                rel == "created-from" and t in live for rel, t, _ in e.links))
    assert [(w["week"], w["cases"], w["closed"], w["linked"], w["no_match"], w["link_rate"])
            for w in cov["weeks"]] == [
        (week, c["cases"], c["closed"], c["linked"], c["no_match"],
         _rate(c["linked"], c["closed"])) for week, c in want.items()]
    by_category = {v["value"]: v for v in cov["by_label"]["category"]}
    escalated = Counter(e.labels.get("category") for e in world.entries
                        if e.ever_resolved and e.escalation)
    for value, n in escalated.items():
        assert by_category[value]["escalated"] >= n
