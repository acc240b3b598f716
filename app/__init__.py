"""The Streamlit workbench: entry point (`main.py`), cached resources, shared UI pieces and state.

Pages (in `pages/`) hold widgets only; they get data and models through `app.resources` and do
every computation through `core/`, so they never import torch or transformers themselves.
"""
