"""The knowledge base: articles, their chunks, retrieval and citations (docs/knowledge-base.md)."""
