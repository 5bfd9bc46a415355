"""One rule for the tenant subdomain: the generation hook and the generated settings agree.

The hook checks the ``ganymede_subdomain`` answer before any file exists, so it cannot
import the tooling package; ``ganymede_sync/settings/config.py`` checks ``ganymede.toml`` and
``GANYMEDE_SUBDOMAIN``. One table of cases drives the hook and ``load_settings``, so
the two copies of the pattern cannot drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_folder_rule import generated_package  # noqa: F401 - a fixture
from tests.test_hooks import render_hook

# subdomain -> accepted as a tenant
CASES = {
    "acme": True,
    "a1-b2": True,
    "a": True,
    "0": True,
    "a" * 63: True,
    "a" * 64: False,
    "Acme": False,
    "acme.ganymede.bio": False,
    "-acme": False,
    "acme-": False,
    "a_b": False,
    "ac me": False,
    "acme\n": False,
    "ac\u00e9me": False,
    "https://acme": False,
}


@pytest.fixture(scope="module")
def hook():
    return render_hook("pre_gen_project", {})


def test_both_copies_hold_the_same_pattern(hook, generated_package):  # noqa: F811
    _, config = generated_package
    assert hook.DNS_LABEL.pattern == config.SUBDOMAIN_LABEL.pattern


@pytest.mark.parametrize("name, accepted", CASES.items(), ids=[ascii(n) for n in CASES])
def test_hook_and_settings_give_the_same_verdict(
    hook,
    generated_package,  # noqa: F811
    tmp_path: Path,
    name,
    accepted,
):
    _, config = generated_package
    assert (hook.check_subdomain(name) is None) is accepted
    assert config.is_subdomain(name) is accepted
    toml = tmp_path / "ganymede.toml"
    environments = '\n[environments.dev]\nganymede_environment = "dev"\n'
    ways = [({config.SUBDOMAIN_VARIABLE: name}, "acme")]
    if name == name.strip():
        ways.append(({}, name))  # ganymede.toml strips its values, a variable is taken as is
    for environ, in_file in ways:
        toml.write_text(f"[ganymede]\nsubdomain = {json.dumps(in_file)}\n{environments}")
        if accepted:
            assert config.load_settings(tmp_path, environ=environ).subdomain == name
        else:
            with pytest.raises(config.ConfigError) as caught:
                config.load_settings(tmp_path, environ=environ)
            message = str(caught.value)
            assert "\n" not in message and "is not a DNS label" in message
