"""The hooks: bad answers are refused up front; the post-generation hook is idempotent."""

from __future__ import annotations

import importlib.util
import json
import types
from pathlib import Path

import pytest
from cookiecutter.environment import StrictEnvironment
from cookiecutter.exceptions import FailedHookException

from tests.conftest import TEMPLATE

# Each refused answer set, with a fragment the error line must contain.
REFUSED = {
    "subdomain-uppercase": ({"ganymede_subdomain": "Acme"}, "ganymede_subdomain='Acme'"),
    "subdomain-url": ({"ganymede_subdomain": "acme.ganymede.bio"}, "DNS label"),
    "subdomain-empty": ({"ganymede_subdomain": ""}, "ganymede_subdomain=''"),
    "environment-reserved": ({"environments": "dev,lib"}, "'lib' is used by the generated"),
    "environment-tests": ({"environments": "tests"}, "'tests' is used"),
    "environment-dotted": ({"environments": "dev,.github"}, "'.github' must start"),
    "environment-duplicate": ({"environments": "dev,prod,dev"}, "lists dev more than once"),
    "environment-empty-item": ({"environments": "dev,,prod"}, "without empty items"),
    "environment-traversal": ({"environments": "../evil"}, "'../evil' must start"),
    "environment-uppercase": ({"environments": "Dev"}, "'Dev' must start"),
    "branch-space": ({"default_branch": "my branch"}, "default_branch='my branch'"),
    "branch-dotdot": ({"default_branch": "a..b"}, "valid git branch name"),
    "branch-lock": ({"default_branch": "main.lock"}, "valid git branch name"),
    "email-missing-at": ({"sync_bot_email": "bot.example.com"}, "sync_bot_email="),
    "email-injection": ({"sync_bot_email": 'a"b@example.com'}, "email address"),
    "bot-name-quote": ({"sync_bot_name": 'bot"; rm -rf /'}, "sync_bot_name="),
    "repo-name-slash": ({"repo_name": "a/b"}, "repo_name='a/b'"),
    "schedule-garbage": ({"pull_schedule": "every day"}, "five cron fields"),
    "schedule-injection": ({"pull_schedule": "0 6 * * $(id)"}, "five cron fields"),
    "chain-unknown": ({"promotion_chain": "dev,qa"}, "'qa', which is not in environments"),
    "chain-one": ({"promotion_chain": "dev"}, "two or more environments"),
    "chain-repeated": ({"promotion_chain": "dev,prod,dev"}, "each once"),
}


@pytest.mark.parametrize("answers, expected", REFUSED.values(), ids=REFUSED.keys())
def test_invalid_answer_is_refused_with_one_clear_line(bake, tmp_path, capfd, answers, expected):
    with pytest.raises(FailedHookException):
        bake(**answers)
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert expected in errors[0]
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "output left behind"


def test_all_problems_are_reported_at_once(bake, capfd):
    with pytest.raises(FailedHookException):
        bake(ganymede_subdomain="A_B", environments="lib", default_branch="-x")
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert [line.split("=")[0] for line in errors] == [
        "error: ganymede_subdomain",
        "error: environments",
        "error: default_branch",
    ]


def render_hook(name: str, answers: dict[str, str]) -> types.ModuleType:
    """Render a hook with cookiecutter's own Jinja environment and import it."""
    defaults = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    context = {key: value for key, value in defaults.items() if not key.startswith("_")}
    context["python_version"] = context["python_version"][0]
    context["repo_name"] = "ganymede-flows"
    context.update(answers)
    source = (TEMPLATE / "hooks" / f"{name}.py").read_text(encoding="utf-8")
    rendered = StrictEnvironment().from_string(source).render(cookiecutter=context)
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(rendered, f"{name}.py", "exec"), module.__dict__)  # noqa: S102 - our own hook
    return module


def test_answers_are_read_as_data_not_code():
    hook = render_hook(
        "pre_gen_project", {"project_name": 'x""" + __import__("os").getcwd() + """'}
    )
    assert hook.ANSWERS["project_name"] == 'x""" + __import__("os").getcwd() + """'


@pytest.mark.parametrize(
    "value, accepted",
    [
        ("main", True),
        ("release/flows", True),
        ("feature/x-1", True),
        ("", False),
        ("/main", False),
        ("main/", False),
        ("a//b", False),
        ("a@{b", False),
        ("-x", False),
        ("a~b", False),
    ],
)
def test_branch_rules(value, accepted):
    hook = render_hook("pre_gen_project", {})
    assert (hook.check_branch(value) is None) is accepted


@pytest.mark.parametrize(
    "value, accepted",
    [("", True), ("0 6 * * 1-5", True), ("*/15 * * * *", True), ("0 6 * *", False)],
)
def test_schedule_rules(value, accepted):
    hook = render_hook("pre_gen_project", {})
    assert (hook.check_schedule(value) is None) is accepted


def test_python_version_outside_the_choices_is_refused(bake):
    with pytest.raises(ValueError, match="choices"):
        bake(python_version="2.7")
    hook = render_hook("pre_gen_project", {})
    assert "3.10" in hook.check_python_version("2.7")


def test_post_gen_hook_is_idempotent_and_keeps_user_files(tmp_path: Path, monkeypatch, capsys):
    hook = render_hook("post_gen_project", {"environments": "dev, prod"})
    monkeypatch.chdir(tmp_path)
    assert hook.main() == 0
    (tmp_path / "dev" / "README.md").write_text("my own notes\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert hook.main() == 0
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert before == after
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev", "prod"]
    assert "invoke init" in capsys.readouterr().out
