"""What a notification says, in the recipient's language (zh or en): the catalogue and
`render(kind, lang, context, base_url, zone) -> Message`.

A Message is channel-neutral — subject, a few lines, facts (label, value), a link — and
is stored as JSON in the outbox row; each channel (mail, a chat format) lays it out when
it is sent.  Values missing from the context show as "—"; stored times (UTC) show on the
recipient's clock, with the zone's offset named.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from urllib.parse import quote
from zoneinfo import ZoneInfo

from zones import in_zone, offset_text

LANGS = ("zh", "en")

# kind -> lang -> (subject, first line)
TEXT: dict[str, dict[str, tuple[str, str]]] = {
    "escalated": {
        "zh": ("工单 {case} 已升级给你：{title}", "{actor} 将工单升级给你。原因：{reason}"),
        "en": ("Case {case} was escalated to you: {title}",
               "{actor} escalated the case to you. Reason: {reason}"),
    },
    "assigned": {
        "zh": ("工单 {case} 已分派给你：{title}", "{actor} 将工单分派给你。"),
        "en": ("Case {case} was assigned to you: {title}", "{actor} assigned the case to you."),
    },
    "dispatched": {
        "zh": ("派工：工单 {case}，{planned_at}，{place}", "{actor} 派你上门处理：{title}"),
        "en": ("Dispatch: case {case}, {planned_at}, {place}",
               "{actor} sent you on site for: {title}"),
    },
    "critical": {
        "zh": ("紧急工单 {case}：{title}", "新受理的工单分诊为最高严重级别（{priority}）。"),
        "en": ("Critical case {case}: {title}",
               "A new case was triaged at the top severity level ({priority})."),
    },
    "at_risk": {
        "zh": ("工单 {case} 即将超时：{title}", "{deadline}截止时间 {due} 快到了。"),
        "en": ("Case {case} is at risk: {title}", "Its {deadline} deadline {due} is close."),
    },
    "overdue": {
        "zh": ("工单 {case} 已超时：{title}", "{deadline}截止时间 {due} 已过。"),
        "en": ("Case {case} is overdue: {title}", "Its {deadline} deadline {due} has passed."),
    },
    "follow_up": {
        "zh": ("工单 {case} 需要回访：{title}",
               "工单于 {resolved_at} 解决，已过 {days} 天，请回访客户。"),
        "en": ("Case {case} is due for a follow-up call: {title}",
               "It was resolved on {resolved_at}, {days} days ago: please call the customer."),
    },
    "review": {
        "zh": ("文章 {article} 等待审核：{title}", "{actor} 提交了文章，等待审核。"),
        "en": ("Article {article} is waiting for your review: {title}",
               "{actor} submitted the article for review."),
    },
    "import": {
        "zh": ("导入完成：{file}", "导入 {taken} 条，拒绝 {rejected} 条。"),
        "en": ("Import finished: {file}", "{taken} records imported, {rejected} rejected."),
    },
    "test": {
        "zh": ("KnownFix 测试通知", "{actor} 发送了这条测试通知：你的通知设置可以收到消息。"),
        "en": ("KnownFix test notification",
               "{actor} sent this test: your notification settings work."),
    },
}
KINDS = tuple(TEXT)

LABELS: dict[str, tuple[str, str]] = {  # fact name -> (zh, en)
    "priority": ("优先级", "Priority"),
    "state": ("状态", "State"),
    "assignee": ("处理人", "Assignee"),
    "due": ("截止时间", "Deadline"),
    "customer": ("客户", "Customer"),
    "description": ("故障描述", "Fault"),
}
DEADLINES = {"due_response": ("响应", "response"), "due_resolution": ("解决", "resolution")}
LINK_TEXT = {"case": ("打开工单", "Open the case"), "article": ("打开文章", "Open the article"),
             "": ("打开 KnownFix", "Open KnownFix")}
PAGES = {"case": "case", "article": "knowledge"}  # what a link opens in the app
TIMES = frozenset({"planned_at", "resolved_at", "due"})  # context values that are times


@dataclass(frozen=True)
class Message:
    """One notification, laid out by each channel: subject, lines, facts and a link."""

    kind: str
    lang: str
    subject: str
    lines: list[str] = field(default_factory=list)
    facts: list[list[str]] = field(default_factory=list)  # [label, value]
    link: str = ""
    link_text: str = ""
    target: str = ""

    def text(self) -> str:
        """The plain-text body (mail, generic webhook, fallbacks)."""
        out = [*self.lines, ""] if self.lines else []
        out += [f"{label}: {value}" for label, value in self.facts]
        if self.link:
            out += ["", f"{self.link_text}: {self.link}"]
        return "\n".join(out).strip()

    def markdown(self, limit: int = 3500) -> str:
        """Markdown for the chat robots (企业微信, 钉钉): bold subject, lines, facts, link."""
        out = [f"**{self.subject}**", "", *self.lines, ""]
        out += [f"> {label}: {value}" for label, value in self.facts]
        body = "\n".join(out).strip()[:limit]
        if self.link:
            body += f"\n\n[{self.link_text}]({self.link})"
        return body

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Message:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "—"


def link_for(target: str, base_url: str) -> tuple[str, str]:
    """The app page showing `target` ('case:ID', 'article:ID') and the page kind."""
    kind, _, rid = target.partition(":")
    page = PAGES.get(kind)
    if not page:
        return base_url.rstrip("/") + "/", ""
    return f"{base_url.rstrip('/')}/{page}?id={quote(rid, safe='')}", kind


def _time(value: str, zone: ZoneInfo) -> str:
    """A stored time on the clock of `zone`: "2026-12-01 17:00 (UTC+8)"."""
    when = in_zone(value, zone)
    return f"{when:%Y-%m-%d %H:%M} ({offset_text(zone, when)})" if when else value


def render(kind: str, lang: str, context: dict, base_url: str,
           zone: ZoneInfo | None = None) -> Message:
    """The message for a notice of `kind` in `lang` (zh unless en), from its context:
    the values its texts name (case, title, actor ...), `facts` (fact name -> value) and
    `target`, which the link opens.  Times are shown in `zone` (default UTC)."""
    lang = lang if lang in LANGS else "zh"
    i = LANGS.index(lang)
    zone = zone or ZoneInfo("UTC")
    context = {**context, "facts": {name: _time(v, zone) if name in TIMES and v else v
                                    for name, v in (context.get("facts") or {}).items()}}
    values = _Blank({k: _time(v, zone) if k in TIMES else v for k, v in context.items()
                     if v not in (None, "")})
    if "deadline" in context:
        values["deadline"] = DEADLINES.get(context["deadline"], ("", ""))[i]
    subject, line = (s.format_map(values) for s in TEXT[kind][lang])
    facts = [[LABELS[name][i], str(value)] for name, value in (context.get("facts") or {}).items()
             if name in LABELS and value not in (None, "")]
    target = context.get("target", "")
    link, page = link_for(target, base_url) if target.startswith(("case:", "article:")) \
        else (base_url.rstrip("/") + "/", "")
    return Message(kind=kind, lang=lang, subject=subject, lines=[line], facts=facts,
                   link=link, link_text=LINK_TEXT[page][i], target=target)
