"""Offline question answering over news articles, with checked citations.

Importing this package is cheap: torch, chromadb, llama_cpp and gradio load only
when a stage that needs them runs.
"""

__version__ = "0.1.0"
