"""Where a linked account goes: the Airflow metadata DB (connection + token Variable) or printable exports.

The CLI runs outside any task, so it uses Airflow's core ORM models the way ``airflow connections add/delete`` do
(``airflow.models.Connection`` + ``create_session``); the SDK ``Connection`` is read-only and, outside a task, does
not even look at the metadata DB. Airflow is imported lazily so ``--help`` and ``--output`` stay fast.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_tiktok import compat
from airflow_provider_tiktok.api.http import DEFAULT_BASE_URL
from airflow_provider_tiktok.tokens import PlaintextTokensRefused, TokenSet, VariableTokenStore

__all__ = ["PlaintextTokensRefused"]  # re-exported for the CLI

if TYPE_CHECKING:
    from airflow_provider_tiktok.hooks.tiktok import TikTokConnectionSettings

CONN_TYPE = "tiktok"
MASK = "***"
SECRET_EXTRA_KEYS = ("refresh_token", "access_token")


def default_variable_key(conn_id: str) -> str:
    """The hook's default token Variable for a connection."""
    return f"{VariableTokenStore.PREFIX}{conn_id}"


def ensure_tokens_writable(conn_id: str) -> None:
    """Raise ``PlaintextTokensRefused`` now if saving the linked tokens would be refused (no Fernet key)."""
    VariableTokenStore(default_variable_key(conn_id)).ensure_writable()


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, repr=False)
class LinkedConnection:
    """The connection a link produces, in the format ``TikTokHook`` reads."""

    conn_id: str
    client_key: str
    client_secret: str
    tokens: TokenSet
    api_base_url: str = DEFAULT_BASE_URL
    description: str | None = None

    def __repr__(self) -> str:
        return f"LinkedConnection(conn_id={self.conn_id!r}, open_id={self.tokens.open_id!r})"

    @property
    def token_variable_key(self) -> str:
        return default_variable_key(self.conn_id)

    def extra(self, *, show_secrets: bool = True) -> dict[str, Any]:
        # Airflow registers every string under a key naming a "token" with its log masker when a connection is read,
        # and each new secret costs a recompile over all of them (docs/benchmarks.md, the secrets masker). So the
        # expiry is written as epoch seconds (a number is not registered) and the token Variable's key, being the
        # default, is not written at all (the hook derives it from the conn id).
        extra: dict[str, Any] = {
            "refresh_token": self.tokens.refresh_token,
            "access_token": self.tokens.access_token,
            "access_token_expires_at": int(self.tokens.access_expires_at),
            "open_id": self.tokens.open_id,
            "api_base_url": self.api_base_url,
        }
        if not show_secrets:
            extra.update({key: MASK for key in SECRET_EXTRA_KEYS if extra.get(key)})
        return {key: value for key, value in extra.items() if value is not None}

    def as_dict(self, *, show_secrets: bool = True) -> dict[str, Any]:
        """The JSON form Airflow accepts in ``AIRFLOW_CONN_*`` variables and ``airflow connections import``."""
        conn: dict[str, Any] = {
            "conn_type": CONN_TYPE,
            "login": self.client_key,
            "password": self.client_secret if show_secrets else MASK,
            "extra": self.extra(show_secrets=show_secrets),
        }
        if self.description:
            conn["description"] = self.description
        return conn


def render(linked: LinkedConnection, fmt: str, *, show_secrets: bool) -> str:
    """``uri``, ``json`` or ``env`` (a shell ``export AIRFLOW_CONN_<ID>=...`` line)."""
    if fmt == "json":
        return json.dumps({linked.conn_id: linked.as_dict(show_secrets=show_secrets)}, indent=2)
    if fmt == "env":
        name = "AIRFLOW_CONN_" + linked.conn_id.upper()
        return f"export {name}={shlex.quote(json.dumps(linked.as_dict(show_secrets=show_secrets)))}"
    if fmt == "uri":
        from airflow.sdk import Connection

        data = linked.as_dict(show_secrets=show_secrets)
        conn = Connection(
            conn_id=linked.conn_id,
            conn_type=CONN_TYPE,
            login=data["login"],
            password=data["password"],
            extra=json.dumps(data["extra"]),
        )
        return conn.get_uri()
    raise ValueError(f"unknown output format {fmt!r}")


class ConnectionExistsError(Exception):
    """The conn_id is taken and ``--overwrite`` was not given."""


def validate_conn_id(conn_id: str) -> None:
    """Airflow's own rule for connection ids (as ``airflow connections add`` applies it); raises ValueError."""
    from airflow.utils.helpers import validate_key

    try:
        validate_key(conn_id, max_length=200)
    except Exception as exc:  # AirflowException or TypeError, with a message naming the rule
        raise ValueError(f"invalid --conn-id: {exc}") from None


def connection_exists(conn_id: str) -> bool:
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(Connection.id).where(Connection.conn_id == conn_id).limit(1)) is not None


def save(linked: LinkedConnection, *, overwrite: bool) -> bool:
    """Create or update the connection, then seed its token Variable with the fresh chain. True if it was updated.

    The Variable must be rewritten too: the hook prefers it over the connection's seed, so a stale chain from an
    earlier link (or another account) would otherwise win.
    """
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        conn = session.scalar(select(Connection).where(Connection.conn_id == linked.conn_id).limit(1))
        updated = conn is not None
        if conn is None:
            conn = Connection(conn_id=linked.conn_id, conn_type=CONN_TYPE)
            session.add(conn)
        elif not overwrite:
            raise ConnectionExistsError(
                f"A connection with conn_id {linked.conn_id!r} already exists; pass --overwrite to replace it"
            )
        conn.conn_type = CONN_TYPE
        conn.description = linked.description
        conn.host = conn.schema = conn.port = None
        conn.login = linked.client_key
        conn.password = linked.client_secret
        conn.set_extra(json.dumps(linked.extra()))
    VariableTokenStore(linked.token_variable_key).save(linked.tokens)
    return updated


@dataclass(frozen=True, repr=False)
class StoredConnection:
    """A ``tiktok`` connection as found in the metadata DB, with its newest tokens (Variable first, as the hook)."""

    conn_id: str
    description: str | None
    settings: TikTokConnectionSettings | None  # None when the connection is unusable (see ``problem``)
    problem: str | None
    tokens: TokenSet | None
    tokens_source: str  # "variable", "connection" or "none"

    def __repr__(self) -> str:
        return f"StoredConnection(conn_id={self.conn_id!r}, tokens_source={self.tokens_source!r})"

    @property
    def variable_key(self) -> str:
        return self.settings.token_variable_key if self.settings else default_variable_key(self.conn_id)


def _stored(conn: Any) -> StoredConnection:
    """Parse with the hook's own reader, so ``list`` shows exactly what tasks will use."""
    from airflow_provider_tiktok.hooks.tiktok import TikTokConnectionSettings

    try:
        settings = TikTokConnectionSettings.from_connection(conn.conn_id, conn.login, conn.password, conn.extra_dejson)
        problem = None
    except ValueError as exc:
        settings, problem = None, str(exc)
    tokens = VariableTokenStore(settings.token_variable_key).load() if settings else None
    source = "variable"
    if tokens is None:
        tokens = settings.seed if settings else None
        source = "connection" if tokens else "none"
    return StoredConnection(
        conn_id=conn.conn_id,
        description=conn.description,
        settings=settings,
        problem=problem,
        tokens=tokens,
        tokens_source=source,
    )


def list_connections() -> list[StoredConnection]:
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(Connection).where(Connection.conn_type == CONN_TYPE).order_by(Connection.conn_id))
        return [_stored(conn) for conn in rows]


def get_connection(conn_id: str) -> StoredConnection | None:
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id).limit(1))
        return _stored(conn) if conn is not None else None


def delete(stored: StoredConnection) -> None:
    """Remove the connection and its token Variable (like ``airflow connections delete`` + ``variables delete``)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete as sql_delete

    with create_session() as session:
        session.execute(sql_delete(Connection).where(Connection.conn_id == stored.conn_id))
    compat.delete_variable(stored.variable_key)
