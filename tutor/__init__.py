"""tutor: a retrieval-augmented course tutor.

The pipeline, one module per stage: documents (load) → chunking → embeddings → store (Chroma)
→ ingest (the job) → retrieve → answer; cli and ui/ only call these.
"""

import os

# Nothing may download a model at run time: campus machines are offline. Hugging Face libraries
# honour these and fail loudly instead of reaching for the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Chroma's telemetry would try to phone home; we also pass anonymized_telemetry=False to clients.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

__version__ = "0.1.0"
