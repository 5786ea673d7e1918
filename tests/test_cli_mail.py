"""`knownfix intake-mail` through the CLI runner: one line per message, a summary, JSON,
and exit code 1 when any message was rejected."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.test_cli_cases import one_line_error

runner = CliRunner()


@pytest.fixture
def kf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `knownfix ARGS...` on an empty KB in tmp_path (fast encoder and index)."""
    empty_kb(tmp_path / "data", monkeypatch)

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, list(args))
        if ok:
            assert result.exit_code == 0, result.output
        return result
    return run


def empty_kb(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty knowledge base in `folder`, and the environment that points to it."""
    from service.engine import Engine
    from settings import load_settings

    monkeypatch.setenv("KNOWNFIX_DATA_DIR", str(folder))
    monkeypatch.setenv("KNOWNFIX_MODEL", "hash:256")
    monkeypatch.setenv("KNOWNFIX_VECTOR_BACKEND", "numpy")
    Engine(load_settings()).close()


def mail(mid: str, subject: str = "NVR beeps: HDD error") -> bytes:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "Jane <jane@acme.example>"
    msg["Message-ID"] = mid
    msg.set_content("The NVR beeps with an HDD error and playback is empty.")
    return msg.as_bytes()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "1.eml").write_bytes(mail("<m1@acme.example>"))
    (folder / "2.eml").write_bytes(mail("<m2@acme.example>", "Camera 7 offline"))
    (folder / "3.msg.eml").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    return folder


def test_every_message_gets_a_line_and_a_rejection_means_exit_1(kf, inbox):
    first = kf("intake-mail", str(inbox), ok=False)
    assert first.exit_code == 1
    lines = first.stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines[:3]] == ["taken", "taken", "rejected"]
    assert lines[0].split()[1].startswith("KF-") and "NVR beeps" in lines[0]
    assert "3.msg.eml: an Outlook .msg or other OLE2 file" in lines[2]
    assert lines[3] == "3 messages: taken 2, repeats 0 (already taken), rejected 1"
    assert first.stderr.startswith("error: 1 message(s) rejected")

    again = kf("intake-mail", str(inbox / "1.eml"), str(inbox / "2.eml"))
    case_1 = lines[0].split()[1]
    assert again.stdout.splitlines()[0].startswith(f"repeat    {case_1}  ")
    assert "(Message-ID seen before)" in again.stdout
    assert again.stdout.splitlines()[-1] == \
        "2 messages: taken 0, repeats 2 (already taken), rejected 0"
    listed = json.loads(kf("case", "list", "--state", "open", "--json").stdout)
    assert {c["fields"]["channel"] for c in listed} == {"email"}


def test_json_report(kf, inbox):
    out = json.loads(kf("intake-mail", str(inbox), "--json", ok=False).stdout)
    assert (out["messages"], out["taken"], out["repeat"], out["rejected"]) == (3, 2, 0, 1)
    assert [o["status"] for o in out["outcomes"]] == ["taken", "taken", "rejected"]
    assert out["outcomes"][0]["key"] == "<m1@acme.example>"
    assert out["outcomes"][2]["case_id"] is None


@pytest.mark.parametrize(("args", "words"), [
    (["nope.eml"], "no such mail file or folder"),
    ([], "give mail files or folders, or --imap"),
    (["--imap", "imaps://u:pw@mail.example.com/INBOX"], "never in the address"),
    (["--imap", "imap://u@mail.example.com/INBOX"], "plain imap:// only to this machine"),
])
def test_mistakes_are_one_line(kf, tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    one_line_error(kf("intake-mail", *args, ok=False), words)


def test_unreachable_imap_server_is_one_line(kf, monkeypatch):
    monkeypatch.setenv("KNOWNFIX_IMAP_PASSWORD", "x")
    one_line_error(kf("intake-mail", "--imap", "imap://u@127.0.0.1:9/INBOX", ok=False),
                   "IMAP imap://u@127.0.0.1:9/INBOX: cannot connect")


def test_poll_takes_new_mail_until_interrupted(tmp_path, inbox, monkeypatch):
    """`--poll` in a real process: new mail dropped in the folder is taken on the next
    run; Ctrl-C (SIGINT) stops it cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    (inbox / "3.msg.eml").unlink()
    empty_kb(tmp_path / "data", monkeypatch)
    env = {**os.environ, "KNOWNFIX_DATA_DIR": str(tmp_path / "data"),
           "KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_VECTOR_BACKEND": "numpy",
           "PYTHONPATH": str(Path(__file__).parent.parent)}
    # a pytest-xdist worker ignores SIGINT, and a child inherits that (Python then installs
    # no KeyboardInterrupt handler): give the command the terminal's default back
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "intake-mail", str(inbox),
                             "--poll", "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        deadline = time.monotonic() + 120  # generous: a 2-core machine under load
        while len([ln for ln in lines if ln.startswith("taken")]) < 3:
            assert time.monotonic() < deadline, lines
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("2 messages: taken 2"):
                (inbox / "4.eml").write_bytes(mail("<m4@acme.example>", "Camera 9 black"))
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Camera 9 black" in "".join(lines)
    assert "polling every 1 s" in err and "stopped" in err
