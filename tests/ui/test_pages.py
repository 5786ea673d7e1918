"""The Streamlit pages, driven headless with streamlit.testing's AppTest: every page
renders for every role that sees it in both languages, each role gets only its pages (and
the service layer refuses the rest), the intake-to-knowledge loop works through the UI,
bad input shows an error, and every message key the UI uses is in the catalogue."""

from __future__ import annotations

import re
import string

import pytest
from google.protobuf import text_format
from streamlit.testing.v1 import AppTest

from errors import PermissionDenied
from kb.store import RELATIONS
from service.auth import PAGE_NEEDS, PERMISSIONS, ROLES
from service.cases import (
    ANSWER_SOURCES,
    CHANNELS,
    DELAY_REASONS,
    FOLLOW_UP_OUTCOMES,
    STATES,
    TRANSITIONS,
    WORK_TYPES,
)
from service.charges import ITEM_KINDS, WARRANTY
from service.customer_links import PURPOSES
from service.demo import DEMO_PASSWORD
from service.knowledge import AUDIENCES
from service.knowledge import STATES as ARTICLE_STATES
from service.maintenance import UNITS
from settings import SETTINGS, Settings
from tests.ui.conftest import APP, ROOT, page_path
from tests.ui.test_errors import keyed_raises
from ui.i18n import MESSAGES
from zones import COMMON_ZONES

LANGS = ("zh", "en")
ROLE_USER = {"first_line": "agent", "engineer": "engineer", "manager": "manager",
             "admin": "admin"}
_COMMON = {"intake", "queue", "case", "customers", "search"}
# The pages each role is given (the access table).
EXPECTED_PAGES = {
    "first_line": _COMMON,
    "engineer": _COMMON | {"knowledge"},
    "manager": _COMMON | {"knowledge", "coverage", "reports", "plans"},
    "admin": _COMMON | {"coverage", "reports", "plans", "admin"},
}
ALL_PAGES = set().union(*EXPECTED_PAGES.values())
HEADER = {"intake": "intake.header", "queue": "queue.header", "case": "case.header",
          "customers": "cust.header",
          "search": "search.header", "knowledge": "kn.header", "coverage": "cov.header",
          "reports": "rep.header", "plans": "plans.header", "admin": "admin.header"}
PHONE = "13912345678"
FAULT = f"客户来电：NVR提示硬盘错误，3号通道查不到录像，回放时提示无录像文件。联系电话{PHONE}"


def msg(key: str, lang: str, **values: object) -> str:
    text = MESSAGES[key][0 if lang == "zh" else 1]
    return text.format(**values) if values else text


def healthy(at: AppTest, where: str = "") -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    assert not at.error, f"{where}: {[e.value for e in at.error]}"


def headers(at: AppTest) -> list[str]:
    return [h.value for h in at.header]


def button(at: AppTest, label: str):
    """The one button (form submit buttons included) with this label."""
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, f"{len(found)} buttons {label!r} in {[b.label for b in at.button]}"
    return found[0]


def page_text(at: AppTest) -> str:
    """Everything the page sent to the browser, as protobuf text (UTF-8)."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(text_format.MessageToString(proto, as_utf8=True))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return "\n".join(out)


def sign_in(at: AppTest, username: str, password: str = DEMO_PASSWORD) -> AppTest:
    at.text_input(key="signin_user").input(username)
    at.text_input(key="signin_password").input(password)
    return button(at, msg("signin.submit", at.session_state["lang"])).click().run()


def app_pages() -> dict[str, set[str]]:
    """Who sees each page (page -> roles), as the router decides it: each page's
    permission in service.auth."""
    return {page: set(PERMISSIONS[need]) for page, need in PAGE_NEEDS.items()}


# -- (1) every page renders, for every role that sees it, in both languages -----------------
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_each_role_in_both_languages(open_app, role, lang):
    at = open_app(ROLE_USER[role], lang)
    home = "admin" if role == "admin" else "intake"
    healthy(at, f"{role} home")
    assert headers(at) == [msg(HEADER[home], lang)]
    assert at.title[0].value == msg("app.title", lang)
    assert at.sidebar.caption[0].value.endswith(msg(f"role.{role}", lang))
    for page in sorted(EXPECTED_PAGES[role]):
        at.switch_page(page_path(page)).run()
        healthy(at, f"{role}/{page}/{lang}")
        assert headers(at) == [msg(HEADER[page], lang)], f"{role}/{page}/{lang}"
        if page == "case":  # the newest case, with its triage and next steps
            assert at.metric and at.subheader
            assert msg("case.actions", lang) in [s.value for s in at.subheader]
        if page == "knowledge":  # the closed case's draft waits in the review queue
            assert any(msg("kn.state.wip", lang) in e.label for e in at.expander)


def test_signed_out_only_the_sign_in_page_exists(open_app):
    at = open_app()
    healthy(at)
    assert set(at.session_state["pages"]) == {"signin"}
    assert headers(at) == [msg("signin.header", "zh")]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page_path("intake"))


# -- (2) navigation per role, and the service layer refuses too -----------------------------
def test_app_pages_match_the_access_table():
    pages = app_pages()
    assert set(pages) == ALL_PAGES
    for role, expected in EXPECTED_PAGES.items():
        assert {p for p, roles in pages.items() if role in roles} == expected, role


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_only_its_pages(open_app, role):
    at = open_app(ROLE_USER[role])
    assert set(at.session_state["pages"]) == EXPECTED_PAGES[role]
    for page in sorted(ALL_PAGES - EXPECTED_PAGES[role]):
        # st.navigation does not register the page: neither a URL nor switch_page reach it
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page_path(page))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", ["knowledge", "coverage", "reports", "plans", "admin"])
def test_a_restricted_page_shuts_for_other_roles_even_when_run_directly(open_app, page,
                                                                        lang):
    """Run the page's script without the router: the view itself checks the role."""
    others = [role for role in ROLES if page not in EXPECTED_PAGES[role]]
    assert others
    for role in others:  # (the roles that see it render it in the test above)
        at = open_app(ROLE_USER[role], lang, script=page_path(page))
        assert not at.exception, f"{page}/{role}: {[e.value for e in at.exception]}"
        assert [e.value for e in at.error] == [
            msg("error.forbidden", lang, role=msg(f"role.{role}", lang))], f"{page}/{role}"
        assert not at.header and not at.tabs and not at.button, f"{page}/{role} rendered"


def test_the_service_layer_refuses_what_a_role_does_not_see(ui_desk):
    users, kn, reports = ui_desk.users, ui_desk.knowledge, ui_desk.reports
    agent, engineer, manager = (users.get(n) for n in ("agent", "engineer", "manager"))
    draft = kn.review_queue()[0]
    kn.submit(agent, draft.id)  # anyone may submit a draft for review ...
    with pytest.raises(PermissionDenied):  # ... but a first-line agent may not validate it
        kn.validate(agent, draft.id)
    with pytest.raises(PermissionDenied):
        kn.archive(agent, draft.id)
    for who in (agent, engineer):
        with pytest.raises(PermissionDenied):
            reports.summary(who, "2020-01-01", "2100-01-01")
        with pytest.raises(PermissionDenied):
            reports.coverage(who, "2020-01-01", "2100-01-01")
    for who in (agent, engineer, manager):
        with pytest.raises(PermissionDenied):
            users.add(who, "mallory", "password-123", "admin")
        with pytest.raises(PermissionDenied):
            ui_desk.reindex(who)
        with pytest.raises(PermissionDenied):
            ui_desk.backup(who)
    with pytest.raises(PermissionDenied):
        ui_desk.store_upload(engineer, "cases.csv", b"a,b\n1,2\n")
    assert kn.validate(engineer, draft.id).state == "validated"
    assert reports.summary(manager, "2020-01-01", "2100-01-01")["period"]["cases"] >= 2


# -- (3) the main flow through the UI ---------------------------------------------------------
def test_intake_to_validated_article(open_app, ui_desk):
    at = open_app()
    at = sign_in(at, "agent")
    healthy(at, "signed in")
    assert headers(at) == [msg("intake.header", "zh")]

    # intake, in Chinese, with the customer's phone number
    at.selectbox(key="in_channel").select("phone")
    at.text_input(key="in_customer").input("华南物业管理有限公司")
    at.text_input(key="in_contact").input(f"刘先生 {PHONE}")
    at.text_input(key="in_product").input("NVR-4216")
    at.text_input(key="in_title").input("NVR硬盘错误，3号通道无录像")
    at.text_area(key="in_description").input(FAULT)
    at = button(at, msg("intake.submit", "zh")).click().run()
    healthy(at, "intake")
    case_id = at.session_state["intake_case"]
    assert at.subheader[0].value == f"{msg('case.number', 'zh')} {case_id} · 已分诊"
    assert at.metric, "triage shows the predicted labels and severity"
    assert msg("triage.fixes", "zh") in [s.value for s in at.subheader]
    used = [b for b in at.button if b.key and b.key.startswith(f"used-{case_id}-")]
    assert used, "triage suggests known fixes"
    # a past case's fix: closing then drafts an article (an article's fix would be reuse)
    first = next(b for b in used if b.key.startswith(f"used-{case_id}-case:"))
    fix_key = first.key.removeprefix(f"used-{case_id}-")
    at = first.click().run()
    healthy(at, "used this fix")
    assert msg("fix.linked", "zh") in [s.value for s in at.success]  # redrawn from the store
    links = ui_desk.engine.kb.links(case_id)
    assert {"target": fix_key, "relation": "used"}.items() <= links[-1].items()

    # the case page: resolve, customer confirms, close
    at = at.button(key=f"goto_{case_id}").click().run()
    healthy(at, "case page")
    assert headers(at) == [msg("case.header", "zh")]
    assert at.session_state["case_id"] == case_id
    at.text_area(key="resolve_fix").input(f"更换3号硬盘并初始化，已电话{PHONE}通知刘先生")
    at.text_input(key="resolve_cause").input("硬盘坏道")
    # the resolver confirms triage's prediction, pre-filled, and corrects one field
    predicted = ui_desk.cases.get(case_id).predicted
    assert at.selectbox(key="resolve_confirm_component").value == predicted["component"]
    at.selectbox(key="resolve_confirm_component").select("server")
    at = button(at, msg("action.resolve", "zh")).click().run()
    healthy(at, "resolve")
    resolved = ui_desk.cases.get(case_id)
    assert resolved.state == "resolved"
    assert resolved.labels == {**predicted, "component": "server"}
    assert resolved.severity == resolved.triage.severity
    at.slider(key="confirm_score").set_value(4)
    at.text_input(key="confirm_comment").input("处理及时")
    at = button(at, msg("action.confirm", "zh")).click().run()
    healthy(at, "confirm")
    case = ui_desk.cases.get(case_id)
    assert case.state == "confirmed" and case.fields["satisfaction"] == 4
    at = at.button(key="act_close").click().run()
    healthy(at, "close")
    assert ui_desk.cases.get(case_id).state == "closed"
    assert at.metric[0].value == "已结案"
    timeline = [m.value for m in at.markdown if m.value.startswith("- `")]
    assert any("结案" in line for line in timeline)

    # an engineer reviews the drafted article: redacted, then validated
    at = at.button(key="signout").click().run()
    assert set(at.session_state["pages"]) == {"signin"}
    at = sign_in(at, "engineer")
    healthy(at, "engineer signed in")
    at.switch_page(page_path("knowledge")).run()
    healthy(at, "knowledge")
    [link] = [lk for lk in ui_desk.engine.kb.links(case_id) if lk["relation"] == "created-from"]
    article_id = link["target"].removeprefix("article:")
    [expander] = [e for e in at.expander if e.label.startswith(f"{article_id} · ")]
    assert expander.label.endswith(msg("kn.state.wip", "zh"))
    assert "NVR" in expander.label
    text = page_text(at)
    assert "[phone]" in text and "硬盘" in text
    assert PHONE not in text, "the contact's phone number reached the knowledge page"
    assert "刘先生" not in text
    at = at.button(key=f"sub-{article_id}").click().run()
    healthy(at, "submit")
    assert ui_desk.knowledge.get(article_id).state == "not_validated"
    at = at.button(key=f"val-{article_id}").click().run()
    healthy(at, "validate")
    article = ui_desk.knowledge.get(article_id)
    assert article.state == "validated" and article.reviewed_at
    assert all(not e.label.startswith(f"{article_id} · ") for e in at.expander)
    assert PHONE not in article.symptoms + article.resolution + article.title


def test_language_switch_in_the_sidebar(open_app, ui_desk):
    at = open_app("engineer")
    assert headers(at) == [msg("intake.header", "zh")]
    at = at.selectbox(key="lang_choice").select("en").run()
    healthy(at)
    assert headers(at) == [msg("intake.header", "en")]
    assert at.session_state["lang"] == "en"
    assert ui_desk.users.get("engineer").lang == "en"


# -- (4) bad input: an error on the page, not an exception ------------------------------------
@pytest.mark.parametrize("lang", LANGS)
def test_intake_with_an_empty_description_shows_an_error(open_app, ui_desk, lang):
    before = len(ui_desk.cases.list())
    at = open_app("agent", lang)
    at.text_input(key="in_customer").input("华东物流")
    at.text_area(key="in_description").input("   ")
    at = button(at, msg("intake.submit", lang)).click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [msg("error.empty", lang)]
    assert "intake_case" not in at.session_state
    assert len(ui_desk.cases.list()) == before


@pytest.mark.parametrize("lang", LANGS)
def test_wrong_password_shows_an_error_in_the_users_language(open_app, lang):
    at = sign_in(open_app(lang=lang), "agent", "not-the-password")
    assert not at.exception
    assert [e.value for e in at.error] == [msg("err.signin_wrong", lang)]
    assert "token" not in at.session_state
    assert set(at.session_state["pages"]) == {"signin"}
    at = sign_in(at, "agent")  # the right password still works
    healthy(at)
    assert set(at.session_state["pages"]) == EXPECTED_PAGES["first_line"]


def test_user_text_on_the_case_page_is_not_rendered_as_raw_markdown(open_app, ui_desk):
    agent = ui_desk.users.get("agent")
    evil = "摄像机离线 ![x](http://tracker.example/p.png) <img src=x onerror=alert(1)>"
    case = ui_desk.cases.open(agent, evil, channel="email")
    at = open_app("agent")
    at.session_state["case_id"] = case.id
    at.switch_page(page_path("case")).run()
    healthy(at)
    shown = [m for m in at.markdown if "摄像机离线" in m.value]
    assert shown
    for m in shown:
        assert "<img" not in m.value and "![x]" not in m.value


# -- (5) i18n: every key the UI uses is in the catalogue, in both languages -------------------
UI_SOURCES = [APP, *sorted((ROOT / "ui").rglob("*.py"))]
_T_CALL = re.compile(r"""\bt\(\s*(f?)(["'])([^"']*)\2\s*([,)+])""")


def _dynamic_keys() -> dict[str, set[str]]:
    """Key prefix -> the values the UI fills in after it."""
    return {
        "state.": set(STATES),
        "channel.": set(CHANNELS),
        "role.": set(ROLES),
        "deadline.": {"overdue", "at_risk", "ok"},
        "delay.": set(DELAY_REASONS),
        "follow.outcome.": set(FOLLOW_UP_OUTCOMES),
        "kn.state.": set(ARTICLE_STATES),
        "kn.audience.": set(AUDIENCES),  # the article editor's audience choice
        "nav.": set(app_pages()),
        "kind.": {"case", "article"},
        "workflow.": set(TRANSITIONS),  # the case page names the action it took
        "severity.": set(Settings().levels),  # the default scale (others: as stored)
        "script.": {"cjk", "latin"},
        "label.": {"category", "component"},  # the demo KB's label fields (others fall back)
        "tz.": set(COMMON_ZONES),  # zone names (other zones: their IANA name)
        "event.": set(),  # checked against the events a whole case and article write
        "names.": {"field", "value", "zh", "en"},  # Admin → display names, its columns
        "setting.": {s.name for s in SETTINGS},  # Admin → settings: every setting named
        "setting_help.": {s.name for s in SETTINGS},
        "measure.": {"first_response_hours", "resolution_hours"},  # reports' timing table
        "charge.kind.": set(ITEM_KINDS), "charge.why.": set(WARRANTY),  # service/charges.py
        "admin.index_": {"count", "model", "dim", "backend", "up_to_date", "saved_at"},
        "col.": {"week", "week_start", "opened", "resolved", "escalated", "measure",
                 "severity", "n", "median", "p90", "assignee", "cases", "escalated_to_them",
                 "median_resolution_hours", "mean_satisfaction", "id", "title", "count",
                 "uses", "last_reviewed", "age_days", "maintenance",
                 # the customers' answers (issue 13)
                 "question", "sent", "answered", "by_link", "by_phone", "response_rate",
                 "rated", "mean", "channel", "source", "value"},  # ui.widgets.headed
        "work.": set(WORK_TYPES),  # fault or maintenance (queue, reports)
        "unit.": set(UNITS),  # maintenance plans: every N days or months
        "answer.question.": set(PURPOSES),  # the case page and the reports (issue 13)
        "answer.source.": set(ANSWER_SOURCES),
        # service error keys (tests/ui/test_errors.py checks each raise's key) and the
        # leads error_text falls back on, by exception class
        "err.": {key for _, key, _ in keyed_raises()}
        | {"BadInput", "NotFound", "PermissionDenied", "InvalidTransition", "KnownFixError"},
        "": set(),  # ui.i18n._word: looks a value up only when its key is in the catalogue
    }


def _used_keys() -> tuple[set[str], set[str]]:
    """Literal keys and dynamic prefixes of every t(...) call in app.py and ui/ (also
    key = f"label.{name}" then t(key))."""
    literal, prefixes = set(), set()
    for path in UI_SOURCES:
        source = path.read_text(encoding="utf-8")
        for m in _T_CALL.finditer(source):
            is_f, key, after = m.group(1), m.group(3), m.group(4)
            if is_f or after == "+":
                prefixes.add(key.split("{", 1)[0])
            else:
                literal.add(key)
        for m in re.finditer(r"""^\s*key = f(["'])([^"'{]*)\{""", source, re.MULTILINE):
            prefixes.add(m.group(2))
    return literal, prefixes


def test_the_scan_finds_the_uses():
    literal, prefixes = _used_keys()
    assert {"app.title", "intake.submit", "kn.validate", "error.empty"} <= literal
    assert {"state.", "channel.", "role.", "nav.", "event.", "label.", "kn.state."} <= prefixes


def test_every_literal_key_is_in_the_catalogue():
    literal, _prefixes = _used_keys()
    missing = sorted(k for k in literal if k not in MESSAGES)
    assert not missing, f"keys used in ui/ or app.py but not in ui/i18n.py: {missing}"


def test_every_dynamic_prefix_is_known_and_covered():
    _literal, prefixes = _used_keys()
    known = _dynamic_keys()
    assert prefixes <= set(known), f"map these prefixes to their values: {prefixes - set(known)}"
    missing = sorted(p + v for p, values in known.items() for v in values
                     if p + v not in MESSAGES)
    assert not missing, f"missing catalogue keys: {missing}"


def test_every_message_has_both_languages_with_the_same_placeholders():
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for key, pair in MESSAGES.items():
        assert len(pair) == 2, key
        zh, en = pair
        assert zh.strip() and en.strip(), f"{key} is empty in a language"
        assert fields(zh) == fields(en), f"{key}: placeholders differ"
    zh_only = [k for k, (zh, en) in MESSAGES.items() if zh == en and re.search(r"[a-z]{3}", zh)]
    assert not zh_only, f"not translated into Chinese: {zh_only}"


def test_every_event_of_a_case_or_an_article_has_a_message(ui_desk):
    """Walk a case and articles through every action; the timeline and the version
    history show each resulting event through t("event." + action)."""
    d = ui_desk
    agent, engineer = d.users.get("agent"), d.users.get("engineer")
    fault = "NVR提示硬盘错误，3号通道查不到录像"
    case = d.cases.open(agent, fault, channel="phone", asset_serial="SN-UI-1")
    d.cases.update(agent, case.id, description=fault + "，回放为空")
    d.cases.start(engineer, case.id)
    d.cases.set_delay(engineer, case.id, "B", "等备件")
    d.cases.dispatch(engineer, case.id, "engineer", "2026-12-01T09:00:00Z", "机房")
    d.cases.record_service(engineer, case.id, "硬盘坏道", "更换硬盘")
    d.cases.escalate(engineer, case.id, "manager", "复现")
    first = case.triage.matches[0].key
    d.cases.link_fix(engineer, case.id, first, helpful=False)
    twin = d.cases.open(agent, fault + "，回放为空", asset_serial="SN-UI-1")  # recurrence
    d.cases.resolve(engineer, case.id, "更换硬盘并初始化")  # offers the fix to the twin
    d.cases.confirm(agent, case.id, 5)
    d.cases.close(agent, case.id)  # drafts an article
    d.cases.follow_up(agent, case.id, "came_back")  # reopens
    d.cases.resolve(engineer, twin.id, "同上", used=first)
    d.cases.close(engineer, twin.id)  # reuse of an article, or a draft from the case
    art, _ = d.knowledge.create(engineer, "NVR硬盘错误", "硬盘错误", "更换硬盘")
    other, _ = d.knowledge.create(engineer, "NVR硬盘报错", "硬盘报错", "更换")
    d.knowledge.edit(engineer, art, resolution="更换硬盘并初始化")
    d.knowledge.submit(engineer, art)
    d.knowledge.reject(engineer, art, "补充")
    d.knowledge.submit(engineer, art)
    d.knowledge.validate(engineer, art)
    d.knowledge.merge(engineer, other, art)
    d.knowledge.archive(engineer, art)
    imported = next(a for a in d.knowledge.list("validated") if a.version == 0)
    d.knowledge.edit(agent, imported.id, title=imported.title + "（补充）")  # v1 "imported"
    actions = {e["action"] for e in d.engine.kb.events(limit=100_000)
               if e["target"].split(":", 1)[0] in ("case", "article")}
    actions |= {v["action"] for a in (art, other, imported.id)
                for v in d.knowledge.versions(a)}
    actions |= {f"link:{r}" for r in RELATIONS} | {"mail:taken"}
    assert {"intake", "triage", "retriage", "reopen", "fix-offered", "draft", "merge",
            "imported"} <= actions
    missing = sorted(a for a in actions if f"event.{a}" not in MESSAGES)
    assert not missing, f"events without a message: {missing}"
