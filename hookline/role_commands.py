"""``hookline admin grant|revoke EMAIL [--role admin|operator]``: change a user's role,
straight in the stores.

The role is written to the user's record in MongoDB, the user's roles are
published to Redis at once (the gateway bounds the API keys the user created
with them, so a revoke takes those permissions from the keys at their next
request), and the cached profile is dropped, so the next read rebuilds it.
Tokens carry roles: a grant takes effect at the user's next login or refresh; a
revoke also ends every session of the user, so no token with the old role
keeps working.
"""

from __future__ import annotations

from enum import StrEnum

from pymongo import ReturnDocument

from core import keys
from core.security import ADMIN_ROLE, OPERATOR_ROLE, SessionStore, UserRoles, UserRolesRegistry
from core.settings import Settings
from core.stores import connect_mongo, connect_redis, mongo_database
from modules.user_management import PROFILE_VIEW, UserManagementModule
from modules.user_management.identifiers import email_key

# The roles this command gives and takes; every user has ``user``.
GRANTABLE_ROLES = (ADMIN_ROLE, OPERATOR_ROLE)


class AdminAction(StrEnum):
    GRANT = "grant"
    REVOKE = "revoke"


class UnknownUser(LookupError):
    """No user has the email given."""


def change_admin_role(
    settings: Settings, email: str, action: AdminAction, role: str = ADMIN_ROLE
) -> str:
    """Apply ``action`` with ``role`` to the user with ``email``; their user id.

    ``UnknownUser`` if nobody has that email; ``ValueError`` for a role not grantable.
    """
    if role not in GRANTABLE_ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(GRANTABLE_ROLES)}")
    update = (
        {"$addToSet": {"roles": role}}
        if action is AdminAction.GRANT
        else {"$pull": {"roles": role}}
    )
    mongo = connect_mongo(settings)
    try:
        users = mongo_database(mongo, settings)[UserManagementModule.collection_name("users")]
        user = users.find_one_and_update(
            {"email_key": email_key(email)}, update, return_document=ReturnDocument.AFTER
        )
    finally:
        mongo.close()
    if user is None:
        raise UnknownUser(f"no user has the email {email!r}")
    user_id = str(user["_id"])
    client = connect_redis(settings)
    try:
        UserRolesRegistry(client).publish(UserRoles(user_id=user_id, roles=tuple(user["roles"])))
        client.delete(keys.read_model(UserManagementModule.name, PROFILE_VIEW, user_id))
        if action is AdminAction.REVOKE:
            SessionStore(client).end_all(user_id)
    finally:
        client.close()
    return user_id
