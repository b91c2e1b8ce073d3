"""Accounts: users with role, plan, subscription status and country, in the catalog database.

``UserStore`` (repository), password hashing (``passwords``: salted scrypt), validation
(``validation``: email, ISO country, plan) and the ``vodflow users`` commands (``cli``).
Tokens and request authentication live in ``vodflow.auth``.
"""

from vodflow.accounts.repository import (AccountError, AccountExists, AccountNotFound, UserRecord, UserStore,
                                         get_user_store)
from vodflow.accounts.validation import PLANS, InvalidAccountData

__all__ = ["PLANS", "AccountError", "AccountExists", "AccountNotFound", "InvalidAccountData", "UserRecord",
           "UserStore", "get_user_store"]
