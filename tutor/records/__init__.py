"""The records database: what students asked (and what they were told), their feedback, and their saved
chats, behind one small repository API on SQLAlchemy Core. SQLite in the data directory by default;
PostgreSQL when TUTOR_DATABASE_URL is set, so several app processes or machines share one record.

    database = Database.open(settings)   # connect, migrate, import feedback.sqlite3, apply retention
    QuestionLog(database)                # the record of questions (insights, CSV export)
    FeedbackStore(database)              # thumbs and comments
    SavedChats(database)                 # conversations per pseudonymous session: list, reopen, forget
    QuestionRecorder(settings)           # the hook the app and the CLI call after each answer
"""

from tutor.records.chats import ChatMessage, ChatSummary, SavedChat, SavedChats
from tutor.records.database import Database, database_url
from tutor.records.feedback import FeedbackEntry, FeedbackStore, rating_from_thumbs
from tutor.records.questions import QuestionLog, QuestionRecord, new_session_id
from tutor.records.recorder import QuestionRecorder

__all__ = ["ChatMessage", "ChatSummary", "Database", "FeedbackEntry", "FeedbackStore", "QuestionLog",
           "QuestionRecord", "QuestionRecorder", "SavedChat", "SavedChats", "database_url", "new_session_id",
           "rating_from_thumbs"]
