"""Who may command the desk: the editors named in DOZOR_EDITORS. Pure.

    editors = Editors.parse(("@anna_ed", "123456"))
    editors.admits(123456, None), editors.admits(42, "Anna_Ed")   # True, True

A username can change hands, so a numeric id is the safer entry; both are accepted because
editors know their @name and rarely their id.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Editors:
    ids: frozenset[int]
    usernames: frozenset[str]  # casefolded, without @

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> "Editors":
        ids = frozenset(int(e) for e in entries if e.isdigit())
        names = frozenset(e.lstrip("@").casefold() for e in entries if not e.isdigit())
        return cls(ids, names)

    def admits(self, user_id: int | None, username: str | None) -> bool:
        if user_id is not None and user_id in self.ids:
            return True
        return bool(username) and username.casefold() in self.usernames

    def __bool__(self) -> bool:
        return bool(self.ids or self.usernames)


def who(user_id: int | None, username: str | None) -> str:
    """How labels and logs name a person: @name (id), or the id alone."""
    return f"@{username} ({user_id})" if username else str(user_id)
