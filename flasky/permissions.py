"""Permission bits and the decorators that guard routes with them."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from enum import IntFlag
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


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


def login_required(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Let only a signed-in, confirmed viewer through (401/redirect otherwise)."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        from flasky.identity import require_login

        await require_login()
        return await func(*args, **kwargs)

    return wrapper


def permission_required(
    permission: int,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Let only a signed-in, confirmed viewer holding `permission` through (403 otherwise)."""

    def decorator(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            from flasky.identity import require_permission

            await require_permission(permission)
            return await func(*args, **kwargs)

        return wrapper

    return decorator


def admin_required(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Shorthand for `permission_required(Permission.ADMIN)`."""
    return permission_required(Permission.ADMIN)(func)
