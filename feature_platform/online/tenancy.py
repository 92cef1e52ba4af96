"""Where each tenant's online data lives: the one place that routes tenants to Redis.

Three isolation levels (the seed's options 1-3), chosen per tenant:

* ``PREFIX`` (default): the store's Redis URL, keys under ``fs:{tenant}:``.
* ``DATABASE``: the store's Redis server, database ``db`` (separate keyspace and
  ``FLUSHDB``/``DBSIZE``), keys still under ``fs:{tenant}:``.
* ``URL``: a Redis of its own (own credentials, memory and CPU), keys under ``fs:{tenant}:``.

Keys always carry the tenant, so one ACL rule shape (``~fs:{tenant}:*``) fits every level:
:func:`tenant_acl_rules` gives the ``ACL SETUSER`` rules of a tenant's Redis user. Such a
user can read and write only its own prefix (inside Lua scripts too, Redis 7 checks every
key a script touches); ``SCAN`` still lists key *names* of other tenants (ACLs cannot filter
it), never their values: give a tenant that must not even see names a database or a Redis
of its own.
Config form (e.g. from YAML)::

    {"acme": "prefix", "globex": {"database": 3}, "initech": {"url": "rediss://..."}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from feature_platform.errors import ConfigError
from feature_platform.online.connection import RedisEndpoint, redact_url
from feature_platform.online.keys import tenant_pattern
from feature_platform.specs._validation import check_identifier


class TenantIsolation(str, Enum):
    """How a tenant's data is separated from the others'."""

    PREFIX = "prefix"
    DATABASE = "database"
    URL = "url"


@dataclass(frozen=True)
class TenantTarget:
    """The isolation of one tenant: a database number or a URL where the level needs one."""

    isolation: TenantIsolation = TenantIsolation.PREFIX
    db: int | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "isolation", TenantIsolation(self.isolation))
        if self.isolation is TenantIsolation.DATABASE and (
            not isinstance(self.db, int) or isinstance(self.db, bool) or self.db < 0
        ):
            raise ConfigError(f"Tenant isolation 'database' needs a database number >= 0, got {self.db!r}")
        if self.isolation is TenantIsolation.URL:
            if not self.url:
                raise ConfigError("Tenant isolation 'url' needs the tenant's Redis URL")
            RedisEndpoint.parse(self.url)

    def __repr__(self) -> str:
        url = redact_url(self.url) if self.url else None
        return f"TenantTarget(isolation={self.isolation.value!r}, db={self.db!r}, url={url!r})"


class TenantRouting:
    """Tenant -> Redis URL. Tenants not listed use key-prefix isolation on the default URL."""

    def __init__(self, tenants: Mapping[str, TenantTarget] | None = None) -> None:
        self._tenants: dict[str, TenantTarget] = {}
        for name, target in (tenants or {}).items():
            check_identifier(name, "Tenant")
            if not isinstance(target, TenantTarget):
                raise ConfigError(f"Tenant {name!r}: expected a TenantTarget, got {target!r}")
            self._tenants[name] = target

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> TenantRouting:
        """Routing from plain config: ``"prefix"``, ``{"database": n}`` or ``{"url": u}``."""
        tenants: dict[str, TenantTarget] = {}
        for name, entry in config.items():
            if entry == "prefix" or entry is None:
                tenants[name] = TenantTarget()
            elif isinstance(entry, Mapping) and set(entry) == {"database"}:
                tenants[name] = TenantTarget(TenantIsolation.DATABASE, db=entry["database"])
            elif isinstance(entry, Mapping) and set(entry) == {"url"}:
                tenants[name] = TenantTarget(TenantIsolation.URL, url=str(entry["url"]))
            else:
                raise ConfigError(
                    f"Tenant {name!r}: routing must be 'prefix', {{'database': N}} or "
                    f"{{'url': 'redis://...'}}; got {entry!r}"
                )
        return cls(tenants)

    def target(self, tenant: str) -> TenantTarget:
        """The isolation of ``tenant`` (PREFIX when not configured)."""
        return self._tenants.get(tenant, TenantTarget())

    def url_for(self, tenant: str, default_url: str) -> str:
        """The Redis URL that holds ``tenant``'s keys."""
        target = self.target(tenant)
        if target.isolation is TenantIsolation.URL:
            assert target.url is not None
            return target.url
        if target.isolation is TenantIsolation.DATABASE:
            assert target.db is not None
            return RedisEndpoint.parse(default_url).with_db(target.db)
        return default_url

    @property
    def tenants(self) -> dict[str, TenantTarget]:
        """The configured tenants."""
        return dict(self._tenants)


def tenant_acl_rules(tenant: str, password: str) -> list[str]:
    """The ``ACL SETUSER <tenant>`` rules that confine a tenant's user to its key prefix.

    Allows reads, writes, the store's Lua scripts and connection commands on keys
    ``fs:{tenant}:*``; no dangerous commands (FLUSHALL, KEYS, CONFIG, DEBUG...), none that
    reach across tenants (RANDOMKEY, DBSIZE, flushing or replacing server-wide scripts and
    functions), no pub/sub. SCAN stays: the store iterates its own prefix with it, and ACLs
    cannot filter the names it returns.
    """
    check_identifier(tenant, "Tenant")
    return [
        "reset", "on", f">{password}", f"~{tenant_pattern(tenant)}", "resetchannels",
        "-@all", "+@read", "+@write", "+@scripting", "+@connection", "-@dangerous",
        "-randomkey", "-dbsize", "-script|flush", "-function|flush", "-function|delete",
        "-function|load", "-function|restore",
    ]
