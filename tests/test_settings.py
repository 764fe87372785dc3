"""Settings are declared once: each is documented in the README, and environment values are checked."""

from __future__ import annotations

import pytest

from qa.settings import SETTINGS, load_settings
from tests.support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
# The slow-client settings are documented on their own page until it joins the docs site's configuration table.
SLOW_CLIENTS = (ROOT / "docs" / "slow-clients.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_every_setting_is_documented(setting):
    assert f"`{setting.env}`" in README + SLOW_CLIENTS, f"{setting.env} is missing from the README's settings table"


def test_environment_overrides_defaults_and_overrides_win():
    settings = load_settings({"MAX_K": 7}, environ={"QA_MAX_K": "9", "QA_DEFAULT_K": "3", "QA_CHECK_CORPUS": "no"})
    assert settings["MAX_K"] == 7
    assert settings["DEFAULT_K"] == 3
    assert settings["CHECK_CORPUS"] is False


@pytest.mark.parametrize("name, value", [("QA_MAX_K", "ten"), ("QA_CHECK_CORPUS", "maybe"),
                                         ("QA_ENCODER_SPIN_US", "-1"), ("QA_KEEPALIVE_LINGER_MS", "-2")])
def test_malformed_environment_values_are_named(name, value):
    with pytest.raises(ValueError, match=name):
        load_settings(environ={name: value})
