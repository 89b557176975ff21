"""Document titles a reader sees: the instructor's own names for documents, kept in the data
directory, and the test for file names that mean nothing to a reader.

An instructor's title is stored in `<data dir>/titles.json` ({source: title}) so that it outlives
re-ingests (the loader would otherwise read the file's own title again) and is applied to the
chunks already indexed at once, without re-embedding anything.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path, PurePosixPath

from tutor.errors import TutorError

TITLES_FILE = "titles.json"
MAX_TITLE_LENGTH = 200

# "000_224ce50211750157", "3f2a9c0e-…", "a1b2c3d4e5f6": a run of 8+ hex digits (with at least one digit)
# that makes up most of the name is an export or upload id, not a name.
_HEX_RUN = re.compile(r"[0-9a-f]{8,}", re.IGNORECASE)


def titles_path(data_dir: Path) -> Path:
    return data_dir / TITLES_FILE


def load_titles(data_dir: Path) -> dict[str, str]:
    """The instructor's titles by source; none when the file does not exist yet."""
    path = titles_path(data_dir)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise TutorError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TutorError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); fix or remove it") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise TutorError(f"{path}: must be a JSON object of source file → title; fix or remove it")
    return data


def clean_title(title: str) -> str:
    """One line, trimmed; refuses an empty or overlong title with a message naming the field."""
    cleaned = " ".join(title.split())
    if not cleaned:
        raise TutorError("The title is empty: type the name students should see.")
    if len(cleaned) > MAX_TITLE_LENGTH:
        raise TutorError(f"The title is {len(cleaned)} characters long; keep it under {MAX_TITLE_LENGTH}.")
    return cleaned


def save_title(data_dir: Path, source: str, title: str | None) -> None:
    """Set (or, with None, forget) the title of one source. Written atomically: a crash leaves the
    old file or the new one, never half of one. Callers hold the index's write lock."""
    titles = load_titles(data_dir)
    if title is None:
        titles.pop(source, None)
    else:
        titles[source] = clean_title(title)
    data_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=".titles-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(titles, out, ensure_ascii=False, indent=1, sort_keys=True)
        os.replace(temporary, titles_path(data_dir))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def is_hash_like(name: str) -> bool:
    """True for file names that are ids rather than names, e.g. '000_224ce50211750157.txt'."""
    stem = PurePosixPath(name).stem
    letters = re.sub(r"[\W_]", "", stem)
    if not letters:
        return True
    if re.fullmatch(r"[0-9a-f]{8,}", letters, re.IGNORECASE) and re.search(r"\d", letters):
        return True  # nothing but hex digits between the separators: "3f2a9c0e-11aa-4b2c"
    hexes = "".join(m.group(0) for m in _HEX_RUN.finditer(stem) if re.search(r"\d", m.group(0)))
    return len(hexes) >= 8 and len(hexes) >= 0.6 * len(letters)
