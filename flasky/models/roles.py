"""Roles and their permissions, and the viewer nobody is signed in as."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from flasky.permissions import ROLE_PERMISSIONS

if TYPE_CHECKING:
    from flasky.models.accounts import User


class Role(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    default = fields.BooleanField(default=False, db_index=True)
    permissions = fields.IntField(default=0)

    users: fields.ReverseRelation[User]

    class Meta:
        table = "roles"

    def __str__(self) -> str:
        return self.name

    @classmethod
    async def insert_roles(cls) -> None:
        """Create or update User, Moderator and Administrator; safe to run again."""
        for name, (perms, default) in ROLE_PERMISSIONS.items():
            role = await cls.get_or_none(name=name)
            if role is None:
                await cls.create(name=name, permissions=int(perms), default=default)
            elif role.permissions != int(perms) or role.default != default:
                role.permissions, role.default = int(perms), default
                await role.save(update_fields=["permissions", "default"])

    @classmethod
    async def default_role(cls) -> Role:
        """The role new accounts get."""
        return await cls.get(default=True)

    def has_permission(self, perm: int) -> bool:
        """True when this role holds every bit of `perm`."""
        return self.permissions & perm == perm


class AnonymousUser:
    """The viewer nobody is signed in as."""

    id = None
    username = ""
    confirmed = False
    is_authenticated = False
    is_anonymous = True

    def can(self, perm: int) -> bool:
        return False

    def is_administrator(self) -> bool:
        return False
