"""The docs' config and command tables come from the code's one declaration of each."""

from __future__ import annotations

import pytest

from device.shared.commands import COMMAND_TABLE
from device.system.reference_docs import GENERATED, render_commands, replace_generated


@pytest.mark.parametrize("file", sorted(GENERATED))
def test_the_generated_tables_in_docs_match_the_code(repo_root, file):
    name, render = GENERATED[file]
    text = (repo_root / "docs" / file).read_text(encoding="utf-8")
    assert replace_generated(text, name, render()) == text, (
        f"docs/{file} is out of date: run python -m device.system.reference_docs docs")


def test_every_command_and_alias_is_in_the_docs_table():
    table = render_commands()
    for spec in COMMAND_TABLE:
        assert f"`{spec.name}`" in table
        for alias in spec.aliases:
            assert f"alias `{alias}`" in table


def test_a_docs_page_without_its_markers_is_refused():
    with pytest.raises(ValueError, match="GENERATED: config"):
        replace_generated("no markers", "config", "x")
