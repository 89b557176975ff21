"""A deterministic stand-in for the encoder, for tests about bookkeeping rather than meaning."""

from __future__ import annotations

from tests.support.fake_llm_server import hashed_embedding


class HashEmbedder:
    """Deterministic bag-of-words vectors (no model): texts sharing words are close. The same vectors
    the fake server's /v1/embeddings endpoint returns, without the server."""

    name = "test-hash-embedder"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [hashed_embedding(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
