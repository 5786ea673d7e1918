"""The whole mail corpus (tests/fixtures/mail: real test messages of seven mail-parsing
projects) through intake twice: every message accounted for, no traceback, a rerun takes
nothing new, and no stored text holds control characters or mojibake."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.auth import SYSTEM
from service.cases import Cases
from service.mail import REJECTED, REPEAT, TAKEN, IntakeReport, MailIntake
from service.mail_parse import parse_mail
from service.mail_text import mojibake

CORPUS = Path(__file__).parent.parent / "fixtures" / "mail"
SOURCES = sorted(p for p in CORPUS.iterdir() if p.is_dir() and p.name != "LICENSES")
FILES = sorted(p for s in SOURCES for p in s.rglob("*") if p.is_file())
# What a rejection may say: the not-mail reasons of service.mail_parse, nothing else
# (an "unreadable message" or "could not open a case" would be a bug showing).
NOT_MAIL = ("empty file (0 bytes)", "nothing but blank space", "an Outlook .msg",
            "no mail headers", "nothing to open a case with", "binary data")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[MailIntake, IntakeReport, IntakeReport]:
    from service.engine import Engine
    from settings import load_settings

    settings = load_settings(str(tmp_path_factory.mktemp("corpus")), model="hash:256",
                             vector_backend="numpy")
    engine = Engine(settings)
    intake = MailIntake(Cases(engine))
    first = intake.import_paths(SYSTEM, SOURCES)
    second = intake.import_paths(SYSTEM, SOURCES)
    yield intake, first, second
    engine.close()


def test_the_corpus_is_real_and_small():
    assert len(FILES) >= 200
    assert sum(p.stat().st_size for p in FILES) < 3 * 1024 * 1024
    readme = (CORPUS / "README.md").read_text()
    for path in FILES:  # every file is cited with its source
        assert f"`{path.relative_to(CORPUS)}`" in readme, path


def test_every_message_is_accounted_for(runs):
    intake, first, _second = runs
    counts = first.counts()
    print(f"\ncorpus, first run: {counts}")
    assert counts[TAKEN] + counts[REPEAT] + counts[REJECTED] == counts["messages"]
    assert counts["messages"] >= len(FILES)  # an mbox holds several
    sources = {o.source.split("#")[0] for o in first.outcomes}
    assert sources == {str(p) for p in FILES}  # no file skipped
    for outcome in first.rejected:
        assert outcome.reason.startswith(NOT_MAIL), outcome.line()
    log = intake.log(SYSTEM, limit=10_000, run=first.run)
    assert len(log) == counts["messages"]


def test_a_rerun_takes_nothing_new(runs):
    _intake, first, second = runs
    print(f"\ncorpus, second run: {second.counts()}")
    assert second.counts() == {"messages": len(first.outcomes), TAKEN: 0,
                               REPEAT: len(first.taken) + len(first.repeats),
                               REJECTED: len(first.rejected)}
    taken = {o.source: o.case_id for o in first.taken}
    for outcome in second.repeats:  # a repeat names the case the message became
        assert outcome.case_id
        if outcome.source in taken:
            assert outcome.case_id == taken[outcome.source]


def test_no_stored_text_holds_control_characters_or_mojibake(runs):
    intake, first, _second = runs
    for outcome in first.taken:
        case = intake.cases.get(outcome.case_id)
        for what, text in (("title", case.title), ("description", case.description),
                           ("contact", case.fields.get("contact") or "")):
            assert mojibake(text) is None, (outcome.source, what, mojibake(text), text[:200])


@pytest.mark.parametrize(("name", "status", "expected"), [
    ("mail-parser/mails/mail_outlook_1", REJECTED, "an Outlook .msg or other OLE2 file"),
    ("mikel-mail/emails/sample_output_multipart", REJECTED, "empty file (0 bytes)"),
    ("flanker/messages/dkim/email.01", REJECTED, "empty file (0 bytes)"),
    ("mikel-mail/emails/attachment_emails/attachment_nonascii_filename.eml", TAKEN,
     "Attachments: ciële.txt"),
    ("flanker/messages/russian-attachment-yahoo.eml", TAKEN, "Attachments: Картинка с очень"),
    ("spamassassin/nice/cjk/gb2312.2", TAKEN, "假设你的硬碟是IDE介面"),
    ("spamassassin/nice/cjk/big5-base64.1", TAKEN, "強片上檔"),
    ("spamassassin/nice/cjk/iso-2022-jp.2", TAKEN, "心当たりがあります"),  # EUC-JP, mislabelled
    ("mikel-mail/emails/multi_charset/japanese_shift_jis.eml", TAKEN, "あいうえお"),
    ("mikel-mail/emails/multi_charset/japanese_iso_2022.eml", TAKEN, "すみません。"),
    ("webklex-php-imap/messages/ks_c_5601-1987_headers.eml", TAKEN, "Content"),
    ("mikel-mail/emails/error_emails/content_transfer_encoding_empty.eml", TAKEN,
     "\n"),  # its subject is Big5 double-encoded as UTF-8: see the title check below
])
def test_known_messages(runs, name, status, expected):
    """Some corpus files share a Message-ID with an earlier one (test suites reuse them):
    such a file is a repeat, and what it would have become is checked by parsing it."""
    intake, first, _second = runs
    outcome = next(o for o in first.outcomes if o.source == str(CORPUS / name))
    if status == REJECTED:
        assert outcome.status == REJECTED, outcome.line()
        assert outcome.reason.startswith(expected)
        return
    assert outcome.status in (TAKEN, REPEAT), outcome.line()
    description = intake.cases.get(outcome.case_id).description \
        if outcome.status == TAKEN else parse_mail((CORPUS / name).read_bytes()).description()
    assert expected in description


def test_known_titles(runs):
    intake, first, _second = runs
    titles = {o.source: intake.cases.get(o.case_id).title for o in first.taken}
    assert titles[str(CORPUS / "spamassassin/nice/cjk/gb2312.2")] == "RE: 装硬碟问题"
    assert titles[str(CORPUS / "mikel-mail/emails/multi_charset/japanese_iso_2022.eml")] == \
        "まみむめも"
    assert "大家說英語" in titles[str(
        CORPUS / "mikel-mail/emails/error_emails/content_transfer_encoding_empty.eml")]
    assert titles[str(CORPUS / "webklex-php-imap/messages/ks_c_5601-1987_headers.eml")] == \
        "RE: 회원님께 Ersi님이 메시지를 보냈습니다."
