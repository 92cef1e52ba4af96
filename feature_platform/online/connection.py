"""Redis URLs and errors: parsing, redaction of passwords, and error translation.

Passwords never leave this module: messages and logs name ``host:port/db`` and the user,
and any text that came from redis-py is scrubbed of the password before it is shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import redis

from feature_platform.errors import (
    ConfigError,
    OnlineStoreError,
    OnlineStorePermissionError,
    OnlineStoreUnavailableError,
)

_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
# A slot moved or not served yet, a master down, the cluster marked down: retry later.
_CLUSTER_TRANSIENT = (
    redis.exceptions.AskError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,
)


@dataclass(frozen=True)
class RedisEndpoint:
    """Where a Redis URL points, without its secret: for messages and logs."""

    url: str
    scheme: str
    host: str
    port: int | None
    db: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> RedisEndpoint:
        """Parse ``redis://``, ``rediss://`` (TLS), ``unix://``, ``redis+cluster://`` or
        ``rediss+cluster://`` (a Redis Cluster: any node's address) URLs; ConfigError otherwise."""
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES:
            raise ConfigError(
                f"Redis URL scheme {parts.scheme!r} is not supported; use redis://, rediss:// "
                "(TLS), unix://, or redis+cluster:// / rediss+cluster:// for a Redis Cluster"
            )
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"Redis URL {redact_url(url)} has an invalid port") from None
        db_text = parts.path.lstrip("/") if parts.scheme != "unix" else ""
        if db_text and not db_text.isdigit():
            raise ConfigError(f"Redis URL {redact_url(url)}: database {db_text!r} is not a number")
        if parts.scheme in CLUSTER_SCHEMES and db_text not in ("", "0"):
            raise ConfigError(
                f"Redis URL {redact_url(url)}: a Redis Cluster has database 0 only; drop /{db_text}"
            )
        return cls(
            url=url,
            scheme=parts.scheme,
            host=parts.hostname or parts.path,
            port=(port or 6379) if parts.scheme != "unix" else None,
            db=int(db_text) if db_text else 0,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    @property
    def is_cluster(self) -> bool:
        """Whether the URL names a Redis Cluster (``redis+cluster://``)."""
        return self.scheme in CLUSTER_SCHEMES

    @property
    def where(self) -> str:
        """``host:port/db`` (or the socket path): safe to print."""
        if self.port is None:
            return self.host
        return f"{self.host}:{self.port}/{self.db}"

    def scrub(self, text: str) -> str:
        """``text`` with the password (raw and URL-quoted) replaced by ``***``."""
        if self.password:
            text = text.replace(self.password, "***")
            raw = urlsplit(self.url).password
            if raw:
                text = text.replace(raw, "***")
        return text

    def with_db(self, db: int) -> str:
        """This URL pointing at database ``db``."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe for logs)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{user}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@contextmanager
def translated_errors(endpoint: RedisEndpoint, doing: str) -> Iterator[None]:
    """Turn redis-py errors into feature_platform errors that name ``endpoint.where``."""
    try:
        yield
    except redis.AuthenticationError as exc:
        user = endpoint.username or "default"
        raise OnlineStoreError(
            f"Redis at {endpoint.where} rejected the credentials of user {user!r} while "
            f"{doing}: {endpoint.scrub(str(exc))}; fix the user/password in the Redis URL"
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise OnlineStoreUnavailableError(
            f"Redis at {endpoint.where} is unavailable while {doing}: "
            f"{type(exc).__name__}: {endpoint.scrub(str(exc))}"
        ) from None
    except _CLUSTER_TRANSIENT as exc:
        raise OnlineStoreUnavailableError(
            f"Redis Cluster at {endpoint.where} is unavailable while {doing} (a failover or "
            f"resharding in progress): {type(exc).__name__}: {endpoint.scrub(str(exc))}"
        ) from None
    except redis.ResponseError as exc:
        if not _is_acl_denial(exc):
            raise OnlineStoreError(
                f"Redis at {endpoint.where} failed while {doing}: "
                f"{type(exc).__name__}: {endpoint.scrub(str(exc))}"
            ) from None
        user = endpoint.username or "default"
        raise OnlineStorePermissionError(
            f"Redis at {endpoint.where} refused user {user!r} while {doing}: "
            f"{endpoint.scrub(str(exc))}; the user's ACL must allow this tenant's key prefix"
        ) from None
    except redis.RedisError as exc:
        raise OnlineStoreError(
            f"Redis at {endpoint.where} failed while {doing}: "
            f"{type(exc).__name__}: {endpoint.scrub(str(exc))}"
        ) from None


def _is_acl_denial(exc: redis.ResponseError) -> bool:
    """Whether Redis refused for ACL reasons (plain NOPERM, or from inside a script)."""
    text = str(exc)
    return (
        isinstance(exc, redis.exceptions.NoPermissionError)
        or "can't access at least one of the keys" in text
        or "no permissions" in text.lower()
    )
