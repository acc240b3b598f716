"""Dataset and model text can never become markup: escaping, chips, and no torch in the pages."""
from __future__ import annotations

import ast
import re

import pytest

from app import ui
from core.data.schema import Dataset, Item
from core.paths import REPO_ROOT
from core.sid.sidmap import SidMap

HOSTILE = "![x](http://evil/x.png) [click](javascript:alert(1)) <script>alert(1)</script> $x^2$ :red[hi] **b** _i_"


def test_markdown_escaping_leaves_no_live_syntax():
    out = ui.md(HOSTILE)
    assert re.search(r"(?<!\\)[\[\]()<>*_$:!^]", out) is None  # every markup character is backslash-escaped
    assert out.replace("\\", "") == HOSTILE  # nothing dropped, only escaped
    assert ui.md("a\nb") == "a  \nb"
    assert ui.hover("<b>Tom & Jerry</b>") == "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"


def test_chips_and_item_lines():
    assert ui.sid_chips((12, 3, 45)) == ":blue-background[a\\_12] :green-background[b\\_3] :orange-background[c\\_45]"
    items = {"1": Item("1", "Evil [x](y) *title*", 1995, ("Drama",)), "2": Item("2", "Plain", None)}
    dataset = Dataset("toy", items, {}, {})
    sidmap = SidMap("toy", "test", [2, 2, 2], {"1": (1, 0, 1)})
    line = ui.item_markdown("1", dataset, sidmap)
    assert line.startswith(":blue-background[a\\_1]") and "[x](y)" not in line and "\\*title\\*" in line
    assert ":gray[no SID]" in ui.item_markdown("2", dataset, sidmap)
    pieces = [("text", "I liked ", None), ("sid", "<a_1><b_0><c_1>", "1"), ("text", " then ", None),
              ("sid", "<a_1><b_1>", None)]
    text = ui.reasoning_markdown(pieces, dataset)
    assert ":green-background[\\<a\\_1\\>" in text and ":red-background[\\<a\\_1\\>\\<b\\_1\\> not an item]" in text


@pytest.mark.parametrize("page", sorted((REPO_ROOT / "pages").glob("*.py")), ids=lambda p: p.name)
def test_pages_never_import_torch_or_transformers(page):
    tree = ast.parse(page.read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {m.split(".")[0] for m in modules} & {"torch", "transformers", "peft", "trl"}


def _failing_page():
    import streamlit as st

    from app import ui
    from core.errors import SidLensError

    with ui.guarded("Loading"):
        raise SidLensError("unknown item ![x](http://evil/x.png)")
    with ui.guarded("Computing"):
        raise ZeroDivisionError("division by zero")
    st.write("still here")


def test_guarded_shows_escaped_errors_and_the_page_goes_on():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_failing_page).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Loading: unknown item \\!\\[x\\]\\(http\\://evil/x\\.png\\)",
                                           "Computing failed: ZeroDivisionError: division by zero"]
    assert at.markdown[-1].value == "still here"
