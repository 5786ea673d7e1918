"""`knownfix article audience`: who may read an article, set from the command line with
the same checks as the app and the API; mistakes are one line."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app
from tests.test_cli import assert_ok, assert_one_line_error

FAST = {"KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_VECTOR_BACKEND": "numpy"}


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env=FAST)


def test_article_audience_is_set_and_checked(tmp_path):
    data = tmp_path / "data"
    assert_ok(run("demo", "--data-dir", data))
    made = run("article", "audience", "DEMO-A-07", "external", "--data-dir", data)
    assert_ok(made)
    assert made.stdout.strip() == ("DEMO-A-07: external (not_validated, version 2); customers "
                                   "see it once it is validated")
    assert_one_line_error(run("article", "audience", "DEMO-A-07", "everyone", "--data-dir",
                              data), "unknown audience 'everyone'")
    assert_one_line_error(run("article", "audience", "NO-SUCH", "internal", "--data-dir",
                              data), "NO-SUCH")
    back = run("article", "audience", "DEMO-A-07", "internal", "--data-dir", data)
    assert_ok(back)
    assert back.stdout.startswith("DEMO-A-07: internal")
