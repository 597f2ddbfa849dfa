"""Canary allocation: which users see the canary version. Pure: no database, no UI.

A user is in the canary of a feature when the bucket of ``"{feature}:{user_id}"`` is below
``percent * 100``. The bucket is the first 8 bytes of the SHA-256 of that string, read as a
big-endian integer, modulo 10,000. So:

- the same user gets the same answer in every process, on every machine and after restarts
  (no salt, no process-dependent ``hash()``); any language can reproduce it;
- raising the percentage only adds users: everyone in a 10 % canary stays in it at 20 %;
- features are allocated independently (the feature name is part of the hash), so the same
  users are not always the guinea pigs;
- the user id is taken as ``str(user_id)``: ``42`` and ``"42"`` are the same user.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000  # a bucket is 0.01 percentage point


def bucket(feature: str, user_id: object) -> int:
    """The user's bucket for ``feature``, from 0 to 9,999."""
    digest = hashlib.sha256(f"{feature}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_canary(feature: str, user_id: object, percent: int) -> bool:
    """Whether ``user_id`` is served the canary of ``feature`` at ``percent`` (0 to 100)."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    return bucket(feature, user_id) < percent * (BUCKETS // 100)
