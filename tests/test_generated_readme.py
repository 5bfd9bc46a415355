"""The generated README leads with the user's day and agrees with what generation prints."""

from __future__ import annotations

import re
from pathlib import Path

from cookiecutter.main import cookiecutter

from tests.conftest import TEMPLATE, hook_scripts_removed

README_LIMIT_BYTES = 10 * 1024


def shell_commands(text: str) -> list[str]:
    """Commands of a shell transcript: comments and blank lines dropped, spaces folded."""
    commands = []
    for line in text.splitlines():
        command = re.sub(r"\s+#\s.*$", "", line).strip()
        if command and not command.startswith("#"):
            commands.append(" ".join(command.split()))
    return commands


def readme_setup_commands(readme: str) -> list[str]:
    section = readme.split("### On your machine", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return shell_commands(block)


def printed_setup_commands(output: str) -> list[str]:
    steps = output.split("Next steps", 1)[1].split("\n", 1)[1]
    block = steps.split("\nThen in GitHub", 1)[0]
    return [command for command in shell_commands(block) if not command.startswith("cd ")]


def test_readme_is_short_and_its_first_screen_holds_the_daily_loop(baked):
    readme = (baked.path / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) < README_LIMIT_BYTES
    first_lines = "\n".join(readme.splitlines()[:60])
    for command in (
        "invoke pull --env",
        "invoke test",
        "invoke status --env",
        "invoke deploy --env",
    ):
        assert command in first_lines, command


def test_readme_links_only_to_pages_that_exist(baked):
    readme = (baked.path / "README.md").read_text(encoding="utf-8")
    links = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    assert links
    assert sorted(link for link in links if not (baked.path / link).is_file()) == []


def test_printed_next_steps_are_the_readme_set_up_in_the_same_order(tmp_path: Path, capfd):
    with hook_scripts_removed():
        repo = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path)))
    printed = printed_setup_commands(capfd.readouterr().out)
    readme = (repo / "README.md").read_text(encoding="utf-8")
    assert printed == readme_setup_commands(readme)
    assert len(printed) >= 5
