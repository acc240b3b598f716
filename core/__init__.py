"""SID Lens engine: data -> Semantic IDs -> aligned LM -> decoding -> evaluation.

Importable and testable without Streamlit. `python -m core --help` lists every pipeline step.
"""
