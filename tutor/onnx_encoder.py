"""The packaged sentence-transformers model run by onnxruntime, optionally quantised to int8.

The ONNX graph is exported with `torch.onnx` from the model's own local weights on first use (no
download) and cached in the data directory; int8 is onnxruntime's dynamic quantisation of that
graph. Vectors are pooled and normalised exactly as sentence-transformers does for MiniLM (mean
over non-padding tokens, then L2), so passages and queries from either backend are comparable —
but an index still records which backend built it, because int8 vectors are close, not equal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from filelock import FileLock
from langchain_core.embeddings import Embeddings

from tutor.errors import ConfigurationError

OnnxVariant = Literal["onnx", "onnx-int8"]
# Bump when the export or quantisation recipe changes, so cached graphs are rebuilt.
_EXPORT_VERSION = "1"
_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxExportError(ConfigurationError):
    """The model could not be exported to ONNX or quantised (the caller falls back to torch)."""


def cpu_has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU has the int8 dot-product instructions (AVX-512 VNNI or AVX-VNNI) that make
    int8 inference clearly faster than fp32."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"avx512_vnni", "avx_vnni"})


def _model_signature(model_path: Path, variant: OnnxVariant) -> str:
    """Identifies the weights and the recipe without hashing 90 MB on every start."""
    digest = hashlib.sha256(f"{_EXPORT_VERSION}/{variant}/{_OPSET}".encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json"):
        file = model_path / name
        if file.exists():
            stat = file.stat()
            digest.update(f"{name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    try:
        import torch

        digest.update(torch.__version__.encode())
    except ImportError:
        pass
    return digest.hexdigest()[:16]


def cached_model_file(model_path: Path, cache_dir: Path, variant: OnnxVariant) -> Path:
    return cache_dir / f"{model_path.name}-{_model_signature(model_path, variant)}-{variant}.onnx"


def ensure_onnx_model(model_path: Path, cache_dir: Path, variant: OnnxVariant) -> Path:
    """The cached ONNX file for this model and variant, exported (and quantised) if missing.
    Concurrent-safe: one process exports under a file lock, into a temporary file renamed into
    place, so a reader never sees half a model."""
    target = cached_model_file(model_path, cache_dir, variant)
    if target.exists():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OnnxExportError(f"cannot create the ONNX model cache {cache_dir} ({exc.strerror or exc})") from exc
    with FileLock(str(target) + ".lock"):
        if target.exists():  # another process exported it while we waited
            return target
        fp32 = cached_model_file(model_path, cache_dir, "onnx")
        if not fp32.exists():
            _atomic_write(fp32, lambda tmp: _export_fp32(model_path, tmp))
        if variant == "onnx-int8":
            _atomic_write(target, lambda tmp: _quantise(fp32, tmp))
    return target


def _atomic_write(target: Path, write) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _export_fp32(model_path: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise OnnxExportError(f"exporting to ONNX needs torch and transformers ({exc})") from exc

    class _LastHiddenState(torch.nn.Module):
        """Keyword arguments: BertModel's positional order changed between transformers versions."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    try:
        # Eager attention: the SDPA path exports a graph that runs several times slower.
        model = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager").eval()
        sample = torch.ones(2, 16, dtype=torch.long)
        axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
        # The tracer's warnings (deprecations, constant branches on sequence length) are about
        # what it cannot prove; the fp32 test checks the exported graph against torch instead.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_LastHiddenState(model), (sample, sample, torch.zeros_like(sample)), str(out),
                              input_names=list(_INPUTS), output_names=["last_hidden_state"], dynamic_axes=axes,
                              opset_version=_OPSET, dynamo=False)
    except Exception as exc:  # any exporter failure means "no ONNX for this model"
        raise OnnxExportError(f"exporting {model_path} to ONNX failed: {type(exc).__name__}: {exc}") from exc


def _quantise(fp32: Path, out: Path) -> None:
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel weights with a reduced range: on CPUs without VNNI the u8s8 kernels can
        # saturate, and plain per-tensor int8 fell to cosine 0.89 against fp32 (0.988 with these).
        # The quantiser logs advice ("consider pre-processing") on the root logger: not for our users.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
        finally:
            root.setLevel(level)
    except Exception as exc:
        raise OnnxExportError(f"quantising {fp32} to int8 failed: {type(exc).__name__}: {exc}") from exc


class OnnxSentenceEncoder(Embeddings):
    """A BERT-style sentence-transformers model (mean pooling) on onnxruntime's CPU provider."""

    def __init__(self, model_path: str, cache_dir: Path, variant: OnnxVariant = "onnx-int8",
                 name: str | None = None) -> None:
        self.model_path = Path(model_path)
        self.variant = variant
        self.name = name or f"sentence-transformers:{model_path}@{variant}"
        self._check_pooling()
        self.max_tokens = self._max_tokens()
        # Export now (seconds, once per data directory) so a failure is known before anything is
        # embedded: the caller can still fall back to torch under the torch name.
        self.onnx_file = ensure_onnx_model(self.model_path, cache_dir, variant)
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None

    def _check_pooling(self) -> None:
        pooling = self.model_path / "1_Pooling" / "config.json"
        try:
            config = json.loads(pooling.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OnnxExportError(f"{pooling}: cannot read the pooling configuration ({exc})") from exc
        if not config.get("pooling_mode_mean_tokens") or any(
                config.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens")):
            raise OnnxExportError(f"{pooling}: only mean pooling is supported by the ONNX backend")
        if not (self.model_path / "tokenizer.json").exists():
            raise OnnxExportError(f"{self.model_path}: no tokenizer.json for the ONNX backend")

    def _max_tokens(self) -> int:
        try:
            config = json.loads((self.model_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
            return int(config.get("max_seq_length", 256))
        except (OSError, ValueError):
            return 256

    def _load(self):
        if self._session is None:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
            tokenizer.enable_truncation(self.max_tokens)
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # On a shared machine spinning threads steal the cores they wait for (as with torch).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.intra_op_num_threads = min(4, os.cpu_count() or 1)
            self._session = ort.InferenceSession(str(self.onnx_file), options, providers=["CPUExecutionProvider"])
            self._tokenizer = tokenizer
        return self._session, self._tokenizer

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One text per run of the graph. int8 quantises each run's activations with one scale for the
        whole batch, so in a batch a text's vector would depend on its neighbours (cosine 0.993 to
        itself alone): an answer would change with what else was embedded with it. Alone, it does not,
        and with no padding it is also cheaper (measured: 6.3 s of CPU for 200 passages one by one,
        10.0 s in batches of 64)."""
        if not texts:
            return []
        with self._lock:
            session, tokenizer = self._load()
            vectors = []
            for text in texts:
                encoding = tokenizer.encode(text)
                feeds = {
                    "input_ids": np.asarray([encoding.ids], dtype=np.int64),
                    "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
                    "token_type_ids": np.asarray([encoding.type_ids], dtype=np.int64),
                }
                vectors.append(mean_pool(session.run(None, feeds)[0], feeds["attention_mask"])[0])
        return [v.tolist() for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def mean_pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling then normalisation: average of the non-padding token
    vectors (count clamped at 1e-9), divided by its L2 norm (clamped at 1e-12)."""
    mask = attention_mask[..., None].astype(np.float32)
    summed = (hidden * mask).sum(axis=1)
    pooled = summed / np.clip(mask.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
