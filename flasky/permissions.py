"""Permission bits and the roles made of them (the decorators that check them are in
identity.py, beside the viewer they check)."""

from __future__ import annotations

from enum import IntFlag


class Permission(IntFlag):
    FOLLOW = 1
    COMMENT = 2
    WRITE = 4
    MODERATE = 8
    ADMIN = 16


ROLE_PERMISSIONS: dict[str, tuple[int, bool]] = {
    "User": (Permission.FOLLOW | Permission.COMMENT | Permission.WRITE, True),
    "Moderator": (
        Permission.FOLLOW | Permission.COMMENT | Permission.WRITE | Permission.MODERATE,
        False,
    ),
    "Administrator": (
        Permission.FOLLOW
        | Permission.COMMENT
        | Permission.WRITE
        | Permission.MODERATE
        | Permission.ADMIN,
        False,
    ),
}
