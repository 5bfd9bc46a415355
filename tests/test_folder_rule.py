"""One rule for environment folder names: the generation hook and ganymede.toml agree.

The hook checks the ``environments`` answer before any file exists, so it cannot
import the tooling package; the tooling's ``ganymede_sync/rules/folder_names.py`` checks
``ganymede.toml``. One table of cases drives the hook, the shared module and
``load_settings`` itself, so the two copies cannot drift apart.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE
from tests.test_hooks import render_hook

PACKAGE_SOURCE = TEMPLATE / "tooling" / "src"

# name -> accepted as an environment folder
CASES = {
    "dev": True,
    "prod_eu": True,
    "qa-1": True,
    "a" * 40: True,
    "a" * 41: False,
    "lib": False,
    "tests": False,
    "ganymede_sync": False,
    "tasks": False,
    "../outside": False,
    "/tmp/abs": False,
    "dev/sub": False,
    ".github": False,
    ".": False,
    "..": False,
    "Dev": False,
    "1dev": False,
    "dev\n": False,
    "dév": False,
    "": False,
}


@pytest.fixture(scope="module")
def generated_package():
    """Import the tooling package straight from its source in the template.

    No byte-code is written: nothing may appear inside the template's folder.
    """
    sys.path.insert(0, str(PACKAGE_SOURCE))
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        folders = importlib.import_module("ganymede_sync.rules.folder_names")
        yield folders, importlib.import_module("ganymede_sync.settings.config")
    finally:
        sys.dont_write_bytecode = writes
        sys.path.remove(str(PACKAGE_SOURCE))
        for name in [name for name in sys.modules if name.startswith("ganymede_sync")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def hook():
    return render_hook("pre_gen_project", {})


def test_both_copies_hold_the_same_names_and_pattern(hook, generated_package):
    folders, _ = generated_package
    assert hook.RESERVED_NAMES == folders.RESERVED_NAMES
    assert hook.ENVIRONMENT_NAME.pattern == folders.ENVIRONMENT_NAME.pattern


@pytest.mark.parametrize("name, accepted", CASES.items(), ids=[ascii(n) for n in CASES])
def test_hook_and_ganymede_toml_give_the_same_verdict(
    hook, generated_package, tmp_path: Path, name, accepted
):
    folders, config = generated_package
    assert (hook.environment_folder_problem(name) is None) is accepted
    assert hook.environment_folder_problem(name) == folders.folder_name_problem(name)
    key = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    (tmp_path / "ganymede.toml").write_text(
        f'[ganymede]\nsubdomain = "acme"\n\n[environments."{key}"]\nganymede_environment = "dev"\n',
        encoding="utf-8",
    )
    if accepted:
        assert list(config.load_settings(tmp_path, environ={}).environments) == [name]
    else:
        with pytest.raises(config.ConfigError) as caught:
            config.load_settings(tmp_path, environ={})
        message = str(caught.value)
        assert "\n" not in message and folders.folder_name_problem(name) in message
