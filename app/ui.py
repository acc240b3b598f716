"""Shared UI pieces: safe text, SID chips, item lines and error boxes.

Dataset and model text is never passed as HTML. Markdown is escaped character by character
(CommonMark backslash escapes), so a title or a generated sentence cannot become a link, an image,
a colour directive or LaTeX; plotly hover text, which plotly renders as a small HTML subset, is
HTML-escaped. SID chips use Streamlit's own markdown colour syntax, one colour per level.
"""
from __future__ import annotations

import contextlib
import html
import re
from typing import Iterator

import streamlit as st

from core.errors import SidLensError
from core.sid.sidmap import LEVEL_LETTERS

LEVEL_COLORS = ("blue", "green", "orange", "violet", "red", "gray", "blue", "green")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=^\"'])")


def md(text: str) -> str:
    """`text` escaped for st.markdown (newlines kept as line breaks)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")


def hover(text: str) -> str:
    """`text` escaped for plotly hover labels."""
    return html.escape(str(text), quote=True)


def sid_chips(codes) -> str:
    """Markdown of a SID with each level in its own colour: `<a_12>` blue, `<b_3>` green, ..."""
    return " ".join(f":{LEVEL_COLORS[level]}-background[{LEVEL_LETTERS[level]}\\_{int(code)}]"
                    for level, code in enumerate(codes))


def item_label(item, with_year: bool = True) -> str:
    """Plain text "Title (year)" for widgets that display text safely (selectboxes, tables)."""
    if item is None:
        return "(unknown item)"
    return item.dated_title if with_year else item.title


def item_markdown(item_id: str, dataset, sidmap) -> str:
    """One item as markdown: its SID chips, then its escaped title and genres."""
    item = dataset.items.get(item_id)
    chips = sid_chips(sidmap.sid(item_id)) if sidmap is not None and item_id in sidmap.codes else ":gray[no SID]"
    genres = f" :gray[{md(', '.join(item.genres))}]" if item is not None and item.genres else ""
    return f"{chips} **{md(item_label(item))}**{genres}"


def reasoning_markdown(pieces: list[tuple[str, str, str | None]], dataset) -> str:
    """Generated text as markdown: plain text escaped, each SID as a chip naming its item, or a red
    chip saying it is not an item (pieces come from `core.decode.stream.split_sid_chunks`)."""
    out = []
    for kind, text, item_id in pieces:
        if kind == "text":
            out.append(md(text))
        elif item_id is not None:
            out.append(f":green-background[{md(text)} {md(item_label(dataset.items.get(item_id)))}]")
        else:
            out.append(f":red-background[{md(text)} not an item]")
    return "".join(out)


@contextlib.contextmanager
def guarded(what: str) -> Iterator[None]:
    """Show a failure inside the block as st.error and carry on rendering the rest of the page.

    User-caused problems (SidLensError) show their one-line message; anything else also shows the
    exception type, so a bug is visible without taking the app down.
    """
    try:
        yield
    except SidLensError as exc:
        st.error(f"{what}: {md(exc)}")
    except Exception as exc:  # the page keeps working; the message names the failure
        st.error(f"{what} failed: {type(exc).__name__}: {md(exc)}")


def page_data(name: str, need_sids: bool = True):
    """(dataset, SID map) for a page; when they cannot be had, say why and stop the page (the
    sidebar, already drawn, offers the way out)."""
    from app import resources

    try:
        dataset, sidmap = resources.dataset(name), resources.sidmap(name)
    except Exception as exc:  # an unreadable dataset or SID map: nothing on the page can work
        st.error(f"Loading {md(name)} failed: {md(exc)}")
        st.stop()
    if need_sids and sidmap is None:
        st.info(f"{md(name)} has no SID map yet: build one with the button in the sidebar.")
        st.stop()
    return dataset, sidmap


def active_variant(name: str) -> dict:
    """The sidebar's active variant of dataset `name`; when there is none (or listing fails), say why
    and stop the page."""
    from app import resources, state

    variant = None
    with guarded("Listing variants"):
        variant = state.active_variant(resources.variants(name))
    if variant is None:
        st.info("No trained model for this dataset yet: the sidebar offers to train one.")
        st.stop()
    return variant
