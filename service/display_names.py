"""Display names of label values and severity levels: what a team calls "storage" or
"high" in each language of the UI, kept in the knowledge base (table `display_names`:
field, value, lang -> name) and changed by an administrator.

A value without a name is shown as stored.  The field "severity" names the levels of
the severity scale; any other field is a label field of the knowledge base.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from errors import BadInput
from kb.store import KnowledgeBase
from service.auth import User, require

SEVERITY = "severity"
LANGS = ("zh", "en")
MAX_NAME = 60
_VERSION = "display_names_version"  # meta key: bumped by every change, read by caches


@dataclass(frozen=True)
class DisplayName:
    """One value of one field, with its name in each language ("" for none)."""

    field: str
    value: str
    zh: str = ""
    en: str = ""

    def to_json(self) -> dict:
        return {"field": self.field, "value": self.value, "zh": self.zh, "en": self.en}


class DisplayNames:
    """Read and change the display names of one knowledge base.  `name` is called for
    every value a page shows, so the names are held in memory and read again only when
    the stored version moved (another process or thread changed them)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._lock = threading.Lock()
        self._held: tuple[str | None, dict[tuple[str, str, str], str]] = ("", {})

    def name(self, field: str, value: str, lang: str) -> str | None:
        """The name of `value` of `field` in `lang`, or None when it has none."""
        return self._names().get((field, value, lang))

    def _names(self) -> dict[tuple[str, str, str], str]:
        version = self.kb.meta(_VERSION)
        with self._lock:
            if self._held[0] != version:
                rows = self.kb.db.execute("SELECT field, value, lang, name FROM display_names")
                self._held = (version, {(f, v, lg): n for f, v, lg, n in rows})
            return self._held[1]

    def entries(self, actor: User) -> list[DisplayName]:
        """Every severity level and every label value the knowledge base holds (and any
        named value no record uses any more), with their names; by field, then value."""
        require(actor, "settings.manage")
        names = self._names()
        known = {(SEVERITY, lv) for lv in self.kb.levels}
        known |= {(f, v) for f in self.kb.label_fields() for v in self.kb.label_values(f)}
        known |= {(f, v) for f, v, _lang in names}
        levels = {lv: i for i, lv in enumerate(self.kb.levels)}
        order = sorted(known, key=lambda fv: (fv[0] != SEVERITY, fv[0],
                                              levels.get(fv[1], 0), fv[1]))
        return [DisplayName(f, v, names.get((f, v, "zh"), ""), names.get((f, v, "en"), ""))
                for f, v in order]

    def set_many(self, actor: User, rows: list[DisplayName]) -> int:
        """Store the names of `rows` in one transaction (an empty name removes that
        language's name) with one audit event; the number of names changed.  Nothing is
        stored when one row is refused: unknown field or severity level, an empty value,
        a name longer than MAX_NAME characters or with a line break."""
        require(actor, "settings.manage")
        checked = [self._checked(row) for row in rows]
        names = self._names()
        changed = [(row.field, row.value, lang, names.get((row.field, row.value, lang), ""),
                    getattr(row, lang)) for row in checked for lang in LANGS]
        changed = [c for c in changed if c[3] != c[4]]
        if not changed:
            return 0
        with self.kb.transaction():
            for field, value, lang, _old, new in changed:
                self.kb.db.execute("DELETE FROM display_names WHERE field = ? AND value = ? "
                                   "AND lang = ?", [field, value, lang])
                if new:
                    self.kb.db.execute("INSERT INTO display_names (field, value, lang, name) "
                                       "VALUES (?, ?, ?, ?)", [field, value, lang, new])
            self.kb.set_meta(_VERSION, str(int(self.kb.meta(_VERSION) or 0) + 1))
            self.kb.log(actor.username, "display-names", "labels",
                        {"changed": [list(c) for c in changed]})
        return len(changed)

    def _checked(self, row: DisplayName) -> DisplayName:
        field, value = (row.field or "").strip(), (row.value or "").strip()
        if field == SEVERITY:
            if self.kb.levels and value not in self.kb.levels:
                raise BadInput(f"unknown severity level {value!r} (levels: "
                               f"{', '.join(self.kb.levels)})", "names_level", value=value,
                               levels=", ".join(self.kb.levels))
        elif field not in self.kb.label_fields():
            raise BadInput(f"unknown label field {field!r} (known: severity, "
                           f"{', '.join(self.kb.label_fields())})", "names_field", field=field,
                           known=", ".join([SEVERITY, *self.kb.label_fields()]))
        if not value:
            raise BadInput(f"a value of {field} needs a value", "names_value", field=field)
        out = {}
        for lang in LANGS:
            name = (getattr(row, lang) or "").strip()
            if len(name) > MAX_NAME or any(c in name for c in "\r\n\t"):
                raise BadInput(f"the name of {field} {value!r} must be one line of at most "
                               f"{MAX_NAME} characters", "names_name", field=field,
                               value=value, max=MAX_NAME)
            out[lang] = name
        return DisplayName(field, value, out["zh"], out["en"])
