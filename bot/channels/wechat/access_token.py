"""The one owner of a WeChat / WeCom access token, and wechatpy clients that use it.

An access token lives about 2 h, and fetching a new one invalidates the old one after
a short overlap: if every call fetched its own, concurrent calls would break each
other's tokens. :class:`AccessTokenOwner` is the only place that fetches it; calls
that find it missing, expiring or rejected cause one refresh between them.

wechatpy's clients are synchronous: :func:`call_off_loop` runs a call in a worker
thread, retrying once with a new token when WeChat rejects the current one.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

from wechatpy.exceptions import WeChatClientException

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: errcodes meaning "this access token is not (or no longer) valid".
TOKEN_REJECTED_ERRCODES = {40001, 40014, 42001}


class AccessTokenOwner:
    """The one holder of an access token: fetches it when missing, expiring or rejected.

    Thread-safe (callers are wechatpy calls in worker threads); concurrent callers
    that need a new token wait for a single fetch.
    """

    def __init__(
        self,
        fetch: Callable[[], Tuple[str, int]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._refresh_at = 0.0
        #: How many times a token was fetched (for monitoring and tests).
        self.fetch_count = 0

    def token(self) -> str:
        """Return a valid token, fetching one if there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._refresh()
            assert self._token is not None
            return self._token

    def refresh_after_rejection(self, rejected: str) -> None:
        """WeChat rejected ``rejected``: fetch a new token unless someone already did."""
        with self._lock:
            if self._token == rejected:
                self._refresh()

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

    def _own_token(self, api_base_url: str) -> None:
        """Call at the end of ``__init__``."""
        self.API_BASE_URL = api_base_url
        self.token_owner = AccessTokenOwner(self._fetch_token)

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
