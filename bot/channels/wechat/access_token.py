"""The one owner of a WeChat / WeCom access token, and wechatpy clients that use it.

An access token lives about 2 h, and fetching a new one invalidates the old one after
a short overlap: if every call fetched its own, concurrent calls would break each
other's tokens. :class:`AccessTokenOwner` is the only place that fetches it; calls
that find it missing, expiring or rejected cause one refresh between them.

With several replicas (production profile) the owner keeps the token in Redis
(:class:`SharedTokenStore`) and fetches under a Redis lock, so one replica fetches
and the others use what it fetched.

wechatpy's clients are synchronous: :func:`call_off_loop` runs a call in a worker
thread, retrying once with a new token when WeChat rejects the current one.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, TypeVar

from wechatpy.exceptions import WeChatClientException

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: errcodes meaning "this access token is not (or no longer) valid".
TOKEN_REJECTED_ERRCODES = {40001, 40014, 42001}


class SharedTokenStore:
    """An access token in Redis for every replica: ``{token, refresh_at}`` (wall clock)
    under one key, and a Redis lock around fetching it."""

    #: Longest a fetch may hold the lock (seconds); a crashed holder frees it then.
    LOCK_TIMEOUT_S = 30.0

    def __init__(self, url: str, key: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self.key = key

    def load(self) -> Optional[Tuple[str, float]]:
        stored = self._redis.get(self.key)
        if not stored:
            return None
        value = json.loads(stored)
        return value["token"], float(value["refresh_at"])

    def save(self, token: str, refresh_at: float) -> None:
        lifetime_ms = max(1, int((refresh_at - time.time()) * 1000))
        self._redis.set(self.key, json.dumps({"token": token, "refresh_at": refresh_at}), px=lifetime_ms)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._redis.lock(f"{self.key}:lock", timeout=self.LOCK_TIMEOUT_S, blocking_timeout=self.LOCK_TIMEOUT_S):
            yield


class AccessTokenOwner:
    """The one holder of an access token: fetches it when missing, expiring or rejected.

    Thread-safe (callers are wechatpy calls in worker threads); concurrent callers
    that need a new token wait for a single fetch. With a ``shared`` store the token is
    the one every replica uses (clock: wall time, comparable across processes).
    """

    def __init__(
        self,
        fetch: Callable[[], Tuple[str, int]],
        clock: Callable[[], float] = time.monotonic,
        shared: Optional[SharedTokenStore] = None,
    ) -> None:
        self._fetch = fetch
        self._shared = shared
        self._clock = time.time if shared is not None else clock
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._refresh_at = 0.0
        #: How many times this process fetched a token (for monitoring and tests).
        self.fetch_count = 0

    def token(self) -> str:
        """Return a valid token, fetching one if there is none or it is about to expire."""
        with self._lock:
            if self._shared is not None:
                # The shared token is the truth: another replica may have replaced it.
                stored = self._shared.load()
                if stored is not None:
                    self._token, self._refresh_at = stored
            if self._token is None or self._clock() >= self._refresh_at:
                self._renew(rejected=None)
            assert self._token is not None
            return self._token

    def refresh_after_rejection(self, rejected: str) -> None:
        """WeChat rejected ``rejected``: fetch a new token unless someone already did."""
        with self._lock:
            if self._token == rejected:
                self._renew(rejected=rejected)

    def _renew(self, rejected: Optional[str]) -> None:
        if self._shared is None:
            self._refresh()
            return
        with self._shared.locked():
            stored = self._shared.load()
            if stored is not None and stored[0] != rejected and self._clock() < stored[1]:
                self._token, self._refresh_at = stored  # another replica fetched it
                return
            self._refresh()
            assert self._token is not None
            self._shared.save(self._token, self._refresh_at)

    def _refresh(self) -> None:
        token, expires_in = self._fetch()
        self.fetch_count += 1
        self._token = token
        # Renew well before WeChat's expiry (7200 s) so no call races it.
        self._refresh_at = self._clock() + max(expires_in - min(300, expires_in / 2), 1)


def call_with_token_retry(owner: AccessTokenOwner, operation: Callable[[], T]) -> T:
    """Run a wechatpy call; if WeChat rejects the token, refresh it once and retry."""
    token = owner.token()
    try:
        return operation()
    except WeChatClientException as error:
        if error.errcode not in TOKEN_REJECTED_ERRCODES:
            raise
        logger.info("WeChat rejected the access token (errcode %s); refreshing", error.errcode)
        owner.refresh_after_rejection(token)
        return operation()


async def call_off_loop(owner: AccessTokenOwner, operation: Callable[[], T]) -> T:
    """:func:`call_with_token_retry` in a worker thread, so the event loop never waits."""
    return await asyncio.to_thread(call_with_token_retry, owner, operation)


class OwnedTokenClientMixin:
    """Mixed in before a wechatpy client class: the client's token comes from an
    :class:`AccessTokenOwner`, and its API base URL is configurable (wechatpy
    hard-codes the token URL). Subclasses name the token endpoint and its parameters.
    """

    #: The token endpoint, relative to the API base URL.
    token_path = ""
    API_BASE_URL: str
    _fetch_access_token: Callable[..., Dict[str, Any]]

    def _own_token(self, api_base_url: str, shared: Optional[SharedTokenStore] = None) -> None:
        """Call at the end of ``__init__``."""
        self.API_BASE_URL = api_base_url
        self.token_owner = AccessTokenOwner(self._fetch_token, shared=shared)

    @property
    def access_token(self) -> str:
        return self.token_owner.token()

    def _token_params(self) -> Dict[str, str]:
        raise NotImplementedError

    def _fetch_token(self) -> Tuple[str, int]:
        result = self._fetch_access_token(
            url=f"{self.API_BASE_URL}{self.token_path}", params=self._token_params()
        )
        return result["access_token"], int(result.get("expires_in", 7200))


def shared_token_store(settings: Any, name: str) -> Optional[SharedTokenStore]:
    """The Redis token store of ``name`` (e.g. the AppID) when replicas share state, else None."""
    if not settings.shares_state:
        return None
    return SharedTokenStore(settings.redis_url, f"{settings.redis_key_prefix}:access-token:{name}")
