"""Redis key layout of the online store and the encoding of entity keys.

Layout: one Redis hash per (tenant, feature view, entity)::

    fs:<tenant>:<view>:{<bucket>}<entity>

``tenant`` and ``view`` are safe identifiers (letters, digits, ``_``), so the first three
``:`` always end the prefix. ``<entity>`` is the entity's join-key values, in the entity's
key order, each encoded with msgpack and concatenated. msgpack is typed and
length-prefixed, so the encoding is injective: the int ``1`` (``0x01``) and the string
``"1"`` (``0xa1 0x31``) differ; a value containing ``:``, ``*``, newlines, any unicode or
thousands of characters stays inside its own length prefix and can neither collide with
another entity nor reach into another view's or tenant's prefix. An int key costs 1-9
bytes, so keys stay short (``fs:acme:user_profile:{603}\\x2a`` for user 42).

``{<bucket>}`` is an explicit Redis Cluster hash tag: the bucket is ``crc32(entity) %
1024`` in decimal, so entities spread evenly over 1,024 buckets (far more than any number
of masters), and keys of one bucket share a slot, which a script call over many keys
needs. Redis hashes the text between the FIRST ``{`` of a key and the next ``}``; nothing
before the tag may hold a brace (identifiers cannot), so msgpack entity bytes that contain
``{`` or ``}`` never form an accidental tag. The tag is in every key, on a single Redis too,
so one layout serves both topologies.

A view can hold several generations of its values (:mod:`feature_platform.online.generations`):
generation 0 is the layout above; generation ``g >= 1`` puts ``~g<g>`` after the view's name
(``fs:<tenant>:<view>~g<g>:{<bucket>}<entity>``), and the hash :func:`generation_key` says
which generation readers are served.

A hot key spread over N copies (:mod:`feature_platform.online.spreading`) keeps copy ``i``
under ``{<bucket>.<i>}`` in place of its tag, and the tenant's registry of spread keys is
the hash :func:`hot_registry_key`.

Every module builds, scans and parses keys through this one: :class:`ViewKeys` for the
keys of one (tenant, view), :func:`parse_key` for a key of unknown view (hot-key reports).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgpack
import numpy as np

from feature_platform.errors import MissingColumnError, SchemaError
from feature_platform.specs import FeatureView, ValueType

KEY_NAMESPACE = "fs"
BUCKETS = 1024
"""Hash-tag buckets that entities spread over (fixed: changing it moves every key)."""
_TAGS = [b"{%d}" % bucket for bucket in range(BUCKETS)]
MARKER_SUFFIX = b"\xc1marker"
"""The last part of a view's publish marker key (see :attr:`ViewKeys.marker`)."""
GENERATION_MARK = "~g"
"""Between a view's name and a generation number in that generation's key prefix."""
L2_PREFIX = b"l2:"
"""The prefix of the L2 cache's copies (see :mod:`feature_platform.online.l2_cache`)."""
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def view_prefix(tenant: str, view: str, generation: int = 0) -> bytes:
    """The key prefix of every entity of ``view`` for ``tenant``: ``fs:{tenant}:{view}:``,
    or ``fs:{tenant}:{view}~g{generation}:`` for a generation above 0."""
    return f"{KEY_NAMESPACE}:{tenant}:{_generation_name(view, generation)}:".encode()


def _generation_name(view: str, generation: int) -> str:
    return view if generation == 0 else f"{view}{GENERATION_MARK}{generation}"


def generation_key(tenant: str, view: str) -> bytes:
    """The hash saying which generation of ``view`` is served: ``fs:{tenant}:{view}~gen``
    (fields in :mod:`feature_platform.online.generations`). It has no hash tag: on a cluster
    it is one plain key, in another slot than the values."""
    return f"{KEY_NAMESPACE}:{tenant}:{view}~gen".encode()


def tenant_pattern(tenant: str) -> str:
    """The Redis glob matching every key of ``tenant`` (for ACL rules ``~fs:{tenant}:*``)."""
    return f"{KEY_NAMESPACE}:{tenant}:*"


def entity_tag(entity: bytes) -> bytes:
    """The hash tag ``{<bucket>}`` of an encoded entity."""
    return _TAGS[zlib.crc32(entity) % BUCKETS]


def key_tag(key: bytes) -> bytes:
    """The hash tag ``{...}`` of any entity key or copy (nothing before it holds a brace)."""
    return key[key.index(b"{") : key.index(b"}") + 1]


def split_tag(rest: bytes) -> tuple[bytes, bytes]:
    """``(tag, entity)`` of the part of a key after its view prefix."""
    end = rest.index(b"}") + 1
    return rest[:end], rest[end:]


def l2_key(key: bytes) -> bytes:
    """The key under which the L2 cache (another Redis) keeps a copy of store key ``key``."""
    return L2_PREFIX + key


def hot_registry_key(tenant: str) -> bytes:
    """The hash listing ``tenant``'s spread hot keys: ``fs:<tenant>:~hot`` (``~`` is no
    identifier character, so no view's keys can match it)."""
    return f"{KEY_NAMESPACE}:{tenant}:~hot".encode()


def copy_key(key: bytes, copy: int) -> bytes:
    """Copy ``copy`` (>= 1) of a spread hot key: ``{<bucket>.<copy>}`` as its tag, so the
    copy hashes to another slot. The key's first ``}`` ends its tag (see the module)."""
    end = key.index(b"}")
    return b"%s.%d%s" % (key[:end], copy, key[end:])


def is_copy(key: bytes) -> bool:
    """Whether ``key`` is a copy of a spread hot key rather than the key itself."""
    return b"." in key[key.index(b"{") : key.index(b"}")]


def primary_key(key: bytes) -> bytes:
    """The key a copy belongs to (a key that is no copy is its own primary)."""
    start, end = key.index(b"{"), key.index(b"}")
    dot = key.find(b".", start, end)
    return key if dot < 0 else key[:dot] + key[end:]


class ViewKeys:
    """The keys of one feature view for one tenant: build them, scan for them, read them."""

    __slots__ = ("_cut", "events_prefix", "generation", "marker", "pattern", "prefix", "tiles_prefix")

    def __init__(self, tenant: str, view: str, generation: int = 0) -> None:
        self.generation = generation
        """Which generation of the view's values these keys hold (0: the first, whose keys
        carry no generation)."""
        self.prefix = view_prefix(tenant, view, generation)
        self.tiles_prefix = StreamKeys.tiles_prefix(tenant, view)
        """The prefix of the view's tile hashes (stream views with windowed aggregations)."""
        self.events_prefix = StreamKeys.events_prefix(tenant, view)
        """The prefix of the view's kept-event sorted sets (the windows' edge events)."""
        self.pattern = self.prefix + b"*"
        """The ``SCAN MATCH`` glob of every key of the view's generation."""
        self.marker = view_prefix(tenant, view) + MARKER_SUFFIX
        """The view's publish marker (a hash: run id, entity count, time). After the prefix
        an entity key goes on with its ``{bucket}`` tag, the marker with the byte ``0xc1``
        (which msgpack never emits either): it cannot collide with an entity, it stays
        under the tenant's prefix (and ACL pattern), and as it has no tag it is a plain
        single key on a cluster. Entity scans skip it: it has no event time. One per view,
        whatever its generation."""
        self._cut = len(self.prefix)

    def is_entity(self, key: bytes) -> bool:
        """Whether a key found by :attr:`pattern` is an entity's value (or a copy of one),
        not the view's marker."""
        return key[self._cut : self._cut + 1] == b"{"

    def key(self, values: Sequence[object]) -> bytes:
        """The key of one entity from its checked join-key values, in key order."""
        entity = encode_entity(values)
        return self.prefix + entity_tag(entity) + entity

    def entity_key(self, entity: bytes) -> bytes:
        """The key of one already encoded entity (:func:`encode_entity`)."""
        return self.prefix + entity_tag(entity) + entity

    def tile_key(self, entity: bytes) -> bytes:
        """The tile hash of one already encoded entity: same hash tag as its latest value."""
        return self.tiles_prefix + entity_tag(entity) + entity

    def events_key(self, entity: bytes) -> bytes:
        """The kept-event sorted set of one already encoded entity: same hash tag as its tiles."""
        return self.events_prefix + entity_tag(entity) + entity

    def keys(self, columns: Sequence[Sequence[object]]) -> list[bytes]:
        """The keys of many entities from their checked join-key columns, in key order."""
        prefix = self.prefix
        tags = _TAGS
        crc32 = zlib.crc32
        if len(columns) == 1:
            entities = list(map(msgpack.packb, columns[0]))
        else:
            entities = [encode_entity(values) for values in zip(*columns, strict=True)]
        return [prefix + tags[crc32(e) % BUCKETS] + e for e in entities]

    def tag(self, key: bytes) -> bytes:
        """The hash tag of one of this view's keys (keys of one tag share a cluster slot)."""
        return key_tag(key)

    def tiles_of(self, keys: Sequence[bytes]) -> list[bytes]:
        """The tile hashes of this (stream) view's entity keys (``fs:{tenant}:{view}~tiles:{entity}``)."""
        cut = self._cut
        prefix = self.tiles_prefix
        return [prefix + key[cut:] for key in keys]

    def events_of(self, keys: Sequence[bytes]) -> list[bytes]:
        """The kept-event sorted sets of this (stream) view's entity keys (``fs:{tenant}:{view}~events:{entity}``)."""
        cut = self._cut
        prefix = self.events_prefix
        return [prefix + key[cut:] for key in keys]

    def entity(self, key: bytes) -> bytes:
        """The encoded entity part of one of this view's keys."""
        return key[key.index(b"}", self._cut) + 1 :]

    def join_keys(self, key: bytes, key_names: Sequence[str]) -> dict[str, object]:
        """The join-key dict of one of this view's keys."""
        return decode_entity(self.entity(key), key_names)


@dataclass(frozen=True)
class ParsedKey:
    """A key taken apart: tenant, view and the entity's join-key values in key order."""

    tenant: str
    view: str
    entity: tuple[object, ...]
    generation: int = 0


def parse_key(key: bytes) -> ParsedKey:
    """Take any key of the layout apart (the first three ``:`` end the prefix)."""
    _, tenant, name, rest = key.split(b":", 3)
    view, _, generation = name.decode().partition(GENERATION_MARK)
    return ParsedKey(tenant.decode(), view, tuple(_unpack(split_tag(rest)[1])), int(generation or 0))


def _unpack(data: bytes) -> list[object]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    return list(unpacker)


def encode_entity(values: Sequence[object]) -> bytes:
    """The entity part of a key: each (already type-checked) key value msgpack-encoded."""
    if len(values) == 1:
        return msgpack.packb(values[0])
    return b"".join(msgpack.packb(v) for v in values)


def decode_entity(data: bytes, key_names: Sequence[str]) -> dict[str, object]:
    """The join-key dict of an encoded entity (the inverse of :func:`encode_entity`)."""
    if len(key_names) == 1:
        # One key (the common case): one msgpack value, decoded without a streaming unpacker.
        try:
            return {key_names[0]: msgpack.unpackb(data, raw=False)}
        except ValueError:
            pass  # not exactly one value: the general path below names the problem
    values = _unpack(data)
    if len(values) != len(key_names):
        raise SchemaError(
            f"Stored entity key {data!r} has {len(values)} values, expected {len(key_names)} "
            f"({', '.join(key_names)}); the key was not written by this store"
        )
    return dict(zip(key_names, values, strict=True))


def check_key_value(value: object, name: str, dtype: ValueType) -> object:
    """``value`` as the Python type of join key ``name``; SchemaError naming the key if not.

    numpy scalars are accepted and turned into Python values; an int key refuses bools and
    strings, a string key refuses numbers, so ``1`` and ``"1"`` never reach the same key.
    """
    kind = type(value)
    if dtype is ValueType.INT64:
        if isinstance(value, int) and kind is not bool:
            if _INT64_MIN <= value <= _INT64_MAX:
                return int(value)
        elif isinstance(value, np.integer):
            return int(value)
    elif dtype is ValueType.STRING:
        if isinstance(value, str):
            return str(value)
    elif dtype is ValueType.BOOL and isinstance(value, bool | np.bool_):
        return bool(value)
    raise SchemaError(
        f"Join key {name!r} must be {dtype.value}, got {value!r} ({kind.__name__}); "
        f"pass {dtype.value} values for {name!r}"
    )


def entity_key_values(
    row: Mapping[str, object], view: FeatureView, where: str = "the entity row"
) -> list[object]:
    """The checked join-key values of ``view`` from one entity row, in key order."""
    values = []
    for name, dtype in view.join_key_types.items():
        try:
            raw = row[name]
        except KeyError:
            raise MissingColumnError(
                name, where, f"Feature view {view.name!r} needs join key {name!r}"
            ) from None
        values.append(check_key_value(raw, name, dtype))
    return values


class StreamKeys:
    """The Redis keys of one stream source of one tenant (the real-time path).

    All live in the tenant's namespace; ``~`` cannot start a view name, so they never meet a
    view's keys::

        fs:{tenant}:~log:{source}:{p}        stream: partition p of the event log
        fs:{tenant}:~progress:{source}:{p}   hash: applied position, watermark, counters
        fs:{tenant}:~lease:{source}:{p}      string: the owner of partition p (expires)
        fs:{tenant}:~dead:{source}           stream: dead letters, with their reason
        fs:{tenant}:~processor:{owner}       hash: a processor's heartbeat (expires)

    A stream view's tiles are in ``fs:{tenant}:{view}~tiles:{<bucket>}<entity>`` (:meth:`tiles_prefix`,
    then the entity's hash tag and bytes, as for its latest-value key), and the events kept for
    its window edges in ``fs:{tenant}:{view}~events:{<bucket>}<entity>`` (:meth:`events_prefix`).

    The embedded processor's batch script touches a partition's progress, lease and
    dead-letter keys with many entities' keys at once, so it needs a single Redis (or a
    tenant on its own database or Redis): on a Redis Cluster those keys span slots.
    """

    __slots__ = ("_base", "source", "tenant")

    def __init__(self, tenant: str, source: str) -> None:
        self.tenant = tenant
        self.source = source
        self._base = f"{KEY_NAMESPACE}:{tenant}:"

    def log(self, partition: int) -> bytes:
        """The stream of partition ``partition``."""
        return f"{self._base}~log:{self.source}:{partition}".encode()

    def progress(self, partition: int) -> bytes:
        """The progress hash of partition ``partition``."""
        return f"{self._base}~progress:{self.source}:{partition}".encode()

    def lease(self, partition: int) -> bytes:
        """The ownership lease of partition ``partition``."""
        return f"{self._base}~lease:{self.source}:{partition}".encode()

    @property
    def dead_letters(self) -> bytes:
        """The dead-letter stream of the source."""
        return f"{self._base}~dead:{self.source}".encode()

    def processor(self, owner: str) -> bytes:
        """The heartbeat hash of processor ``owner``."""
        return f"{self._base}~processor:{owner}".encode()

    @staticmethod
    def tiles_prefix(tenant: str, view: str) -> bytes:
        """The prefix of a stream view's tile hashes: ``fs:{tenant}:{view}~tiles:``."""
        return f"{KEY_NAMESPACE}:{tenant}:{view}~tiles:".encode()

    @staticmethod
    def events_prefix(tenant: str, view: str) -> bytes:
        """The prefix of a stream view's kept-event sorted sets: ``fs:{tenant}:{view}~events:``."""
        return f"{KEY_NAMESPACE}:{tenant}:{view}~events:".encode()
