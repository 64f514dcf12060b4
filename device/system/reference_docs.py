"""The reference tables in docs/ that come from code: the config keys (from the config's
one declaration) and the commands (from the one command table).

``python -m device.system.reference_docs [DOCS_DIR]`` rewrites the generated parts of
``docs/configuration.md`` and ``docs/mqtt.md``; a test fails when they have drifted.
"""

from __future__ import annotations

import re
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from device.shared.commands import COMMAND_TABLE
from device.system.config import Config


def _value(v: object) -> str:
    if v is None:
        return "unset"
    if isinstance(v, bool):
        return f"`{str(v).lower()}`"
    if isinstance(v, str):
        return f'`"{v}"`'
    if isinstance(v, Path):
        return f'`"{v}"`'
    return f"`{v}`"


def render_config() -> str:
    rows = ["| key | default | range | meaning |", "| --- | --- | --- | --- |"]
    for section in fields(Config):
        if section.name == "source_path":
            continue
        for f in fields(section.default_factory):  # type: ignore[arg-type]
            default = "computed" if f.default is MISSING else _value(f.default)
            lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
            span = "" if lo is None and hi is None else f"{_num(lo)} to {_num(hi)}"
            rows.append(f"| `{section.name}.{f.name}` | {default} | {span} | "
                        f"{f.metadata.get('help', '')} |")
    return "\n".join(rows)


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def render_commands() -> str:
    rows = ["| command | payload | what it does |", "|---|---|---|"]
    for spec in COMMAND_TABLE:
        name = f"`{spec.name}`" + "".join(f" (alias `{a}`)" for a in spec.aliases)
        rows.append(f"| {name} | {spec.argument or 'ignored'} | {spec.doc} |")
    return "\n".join(rows)


GENERATED = {"configuration.md": ("config", render_config),
             "mqtt.md": ("commands", render_commands)}


def replace_generated(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- BEGIN GENERATED: {name} -->\n).*?(\n<!-- END GENERATED: "
                         rf"{name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no '<!-- BEGIN GENERATED: {name} -->' block")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def update(docs: Path) -> list[Path]:
    """Rewrite the generated blocks; returns the files that changed."""
    changed = []
    for file, (name, render) in GENERATED.items():
        path = docs / file
        old = path.read_text(encoding="utf-8")
        new = replace_generated(old, name, render())
        if new != old:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    for p in update(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(f"updated {p}")
