"""``hookline admin grant|revoke EMAIL``: give or take the admin role, straight in the stores.

The role is written to the user's record in MongoDB and the cached profile is
dropped, so the next read rebuilds it. Tokens carry roles: a grant takes effect
at the user's next login or refresh; a revoke also ends every session of the
user, so no token with the old role keeps working.
"""

from __future__ import annotations

from enum import StrEnum

from core import keys
from core.security import ADMIN_ROLE, SessionStore
from core.settings import Settings
from core.stores import connect_mongo, connect_redis, mongo_database
from modules.user_management import UserManagementModule
from modules.user_management.identifiers import email_key

PROFILE_VIEW = "profile"


class AdminAction(StrEnum):
    GRANT = "grant"
    REVOKE = "revoke"


class UnknownUser(LookupError):
    """No user has the email given."""


def change_admin_role(settings: Settings, email: str, action: AdminAction) -> str:
    """Apply ``action`` to the user with ``email``; their user id. ``UnknownUser`` if none."""
    update = (
        {"$addToSet": {"roles": ADMIN_ROLE}}
        if action is AdminAction.GRANT
        else {"$pull": {"roles": ADMIN_ROLE}}
    )
    mongo = connect_mongo(settings)
    try:
        users = mongo_database(mongo, settings)[UserManagementModule.collection_name("users")]
        user = users.find_one_and_update({"email_key": email_key(email)}, update)
    finally:
        mongo.close()
    if user is None:
        raise UnknownUser(f"no user has the email {email!r}")
    user_id = str(user["_id"])
    client = connect_redis(settings)
    try:
        client.delete(keys.read_model(UserManagementModule.name, PROFILE_VIEW, user_id))
        if action is AdminAction.REVOKE:
            SessionStore(client).end_all(user_id)
    finally:
        client.close()
    return user_id
