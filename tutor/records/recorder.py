"""The recording hook the app and the CLI call after each answer. Recording never gets in the way of
answering: with TUTOR_RECORD_QUESTIONS off it does nothing, and a database failure is kept as a
warning (`last_error`) while the student still gets the answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from tutor.errors import TutorError
from tutor.models import Answer
from tutor.records.database import Database
from tutor.records.questions import QuestionLog
from tutor.settings import Settings

log = logging.getLogger(__name__)


class QuestionRecorder:
    """Opens the records database on first use (so `tutor ask` with recording off never touches it)."""

    def __init__(self, settings: Settings, open_database: Callable[[Settings], Database] = Database.open) -> None:
        self.settings = settings
        self._open_database = open_database
        self._database: Database | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.record_questions

    @property
    def database(self) -> Database:
        with self._lock:
            if self._database is None:
                self._database = self._open_database(self.settings)
            return self._database

    def record(self, answer: Answer, *, session_id: str, channel: str, latency_s: float, mode: str = "") -> int | None:
        """Record one answer; returns the record id, or None when recording is off or failed."""
        if not self.enabled:
            return None
        try:
            record_id = QuestionLog(self.database).add(answer, session_id=session_id, channel=channel,
                                                       latency_s=latency_s, mode=mode)
        except (TutorError, SQLAlchemyError) as exc:
            self.last_error = f"The question was not recorded: {exc}"
            log.warning(self.last_error)
            return None
        self.last_error = None
        return record_id

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
