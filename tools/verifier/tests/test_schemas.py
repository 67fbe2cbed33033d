"""The verifier's schema tables are those FORMAT.md §10 documents (which a Swift test generates from the code)."""

from __future__ import annotations

import unittest
from pathlib import Path

from verifier.schemas import SCHEMAS


def rendered() -> str:
    """SCHEMAS in the layout of FORMAT.md §10's field-number tables."""
    out = ""
    for event_type, objects in SCHEMAS.items():
        out += f"**`{event_type}`**\n\n"
        for path, names in objects.items():
            out += f"`{path}`: " + ", ".join(f"{number} `{name}`" for number, name in enumerate(names)) + "\n\n"
    return out


class SchemaTablesTest(unittest.TestCase):
    def test_tables_equal_the_field_numbers_format_md_documents(self) -> None:
        format_md = (Path(__file__).resolve().parents[3] / "FORMAT.md").read_text(encoding="utf-8")
        self.assertIn(rendered(), format_md, "tools/verifier/schemas.py differs from FORMAT.md §10; regenerate it")


if __name__ == "__main__":
    unittest.main()
