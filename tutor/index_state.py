"""The index's state: which chunk collection is live, a change marker, and the operation in progress.

Kept as the metadata of a small, record-less Chroma collection (`<name>__state`) beside the chunks,
so the embedded store and a Chroma server work the same way, and reading it is one small request
that is fresh even on an embedded client whose view of the vectors is stale.

- `marker` moves on every write (a random token, so two writers can never leave the same value):
  readers poll it every few seconds and reopen / update their lexical index when it moved.
- `live` is the pointer an atomic rebuild swaps: the new collection is built beside the live one and
  the swap is this one metadata write. `retired` names the collection the swap left to drop.
- `operation` (with target, start time, pid, host) is set while a rebuild, ingest or removal runs and
  cleared when it ends: if it is still set when no writer holds the lock, it was interrupted.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

import chromadb

STATE_SUFFIX = "__state"
FILES_SUFFIX = "__files"
REBUILD_INFIX = "__r"


def files_collection_name(chunk_collection: str) -> str:
    return f"{chunk_collection}{FILES_SUFFIX}"


@dataclass(frozen=True)
class IndexState:
    name: str  # the index's configured name (TUTOR_COLLECTION)
    live: str  # the chunk collection answering now
    marker: str = ""
    generation: int = 0  # how many writes so far: for people reading `tutor status`
    rebuilds: int = 0
    retired: str = ""
    operation: str = ""  # "rebuild", "ingest", "remove" or "" when none is running
    pending_target: str = ""
    operation_started: str = ""
    operation_pid: int = 0
    operation_host: str = ""

    def moved(self) -> IndexState:
        return replace(self, marker=uuid.uuid4().hex, generation=self.generation + 1)

    def begin(self, operation: str, target: str = "") -> IndexState:
        return replace(self, operation=operation, pending_target=target,
                       operation_started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       operation_pid=os.getpid(), operation_host=socket.gethostname())

    def ended(self) -> IndexState:
        return replace(self, operation="", pending_target="", operation_started="", operation_pid=0,
                       operation_host="")

    def next_rebuild_target(self) -> str:
        return f"{self.name}{REBUILD_INFIX}{self.rebuilds + 1}"

    def swapped_to(self, target: str) -> IndexState:
        number = re.search(rf"{re.escape(REBUILD_INFIX)}(\d+)$", target)
        return replace(self.ended().moved(), live=target, retired=self.live,
                       rebuilds=max(self.rebuilds + 1, int(number.group(1)) if number else 0))

    def without_retired(self) -> IndexState:
        return replace(self, retired="")

    def operation_process_alive(self) -> bool | None:
        """Whether the process that began the operation still runs; None when it ran on another host."""
        if not self.operation_pid or self.operation_host != socket.gethostname():
            return None
        try:
            os.kill(self.operation_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class StateRecord:
    """Reads and writes the state collection's metadata."""

    def __init__(self, client: chromadb.ClientAPI, name: str) -> None:
        self.client = client
        self.name = name
        self.collection_name = f"{name}{STATE_SUFFIX}"

    def read(self) -> IndexState:
        """The stored state; an index with none yet (new, or written before states existed) serves
        the collection named like the index."""
        try:
            meta = self.client.get_collection(self.collection_name).metadata or {}
        except Exception as exc:  # NotFoundError, or ValueError on older clients
            if type(exc).__name__ not in ("NotFoundError", "ValueError", "InvalidCollectionException"):
                raise
            meta = {}
        fields = {key: meta[key] for key in IndexState.__dataclass_fields__ if key in meta and key != "name"}
        return IndexState(name=self.name, **{"live": self.name, **fields})

    def update(self, state: IndexState) -> IndexState:
        """Write the whole state (Chroma replaces collection metadata as a whole)."""
        meta: dict[str, Any] = {k: v for k, v in asdict(state).items() if k != "name"}
        collection = self.client.get_or_create_collection(self.collection_name, embedding_function=None)
        collection.modify(metadata=meta)
        return state
