"""``airflow-tiktok``: link a TikTok account into an Airflow connection in one command; list and revoke links.

Human-facing text goes to stderr and machine output (``--output``, ``list``) to stdout, so ``--output env`` can be
piped or ``eval``-ed. All terminal I/O, sleeping and browser opening go through :class:`Terminal`, so the whole
CLI runs in-process in tests with no TTY.
"""

from __future__ import annotations

import argparse
import builtins
import getpass
import os
import sys
import time
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

import httpx

from airflow_provider_tiktok.api.errors import TikTokError, TikTokOAuthError
from airflow_provider_tiktok.api.http import sync_client
from airflow_provider_tiktok.api.oauth import DEFAULT_BASE_URL, TikTokOAuthClient
from airflow_provider_tiktok.link import authorize, qr, store
from airflow_provider_tiktok.tokens import TokenSet, relink_command

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.models import TokenResponse, UserInfo
    from airflow_provider_tiktok.hooks.tiktok import TikTokConnectionSettings
    from airflow_provider_tiktok.token_manager import TokenManager

DEFAULT_SCOPES = "user.info.basic,video.publish,video.upload"
POSTING_SCOPES = {
    "video.publish": "Direct Post (publishing straight to the profile)",
    "video.upload": "uploading drafts to the creator's inbox",
}
ENV_CLIENT_KEY = "TIKTOK_CLIENT_KEY"
ENV_CLIENT_SECRET = "TIKTOK_CLIENT_SECRET"
ENV_API_BASE_URL = "TIKTOK_API_BASE_URL"
QR_TRANSIENT_FAILURES = 3  # consecutive transient check_qrcode failures tolerated before giving up on a QR code


@dataclass
class Terminal:
    """Everything the CLI does to the outside world besides HTTP and the Airflow DB (injectable for tests)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    input: Callable[[str], str] = builtins.input
    getpass: Callable[[str], str] = getpass.getpass
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    open_browser: Callable[[str], bool] = webbrowser.open

    def say(self, text: str = "") -> None:
        print(text, file=self.err, flush=True)


class LinkAborted(Exception):
    """A user-facing failure: printed as ``error: ...`` and the command exits 1. Never carries a secret."""


@dataclass(frozen=True, repr=False)
class Grant:
    """An authorization code and what its exchange needs."""

    code: str
    redirect_uri: str | None
    code_verifier: str | None = None
    callback_scopes: str | None = None
    from_qr: bool = False  # QR codes: the redirect_uri to send is undocumented (see _exchange)


# --- argument parsing -------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airflow-tiktok",
        description="Link TikTok accounts to Airflow connections (conn_type 'tiktok'), list and revoke them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{link,list,revoke,history,forget}")

    link = sub.add_parser("link", help="authorise a TikTok account and store it as an Airflow connection")
    mode = link.add_mutually_exclusive_group(required=True)
    mode.add_argument("--qr", dest="mode", action="store_const", const="qr", help="scan a QR code with the TikTok app")
    mode.add_argument(
        "--browser", dest="mode", action="store_const", const="browser", help="desktop flow: local redirect listener"
    )
    mode.add_argument(
        "--paste", dest="mode", action="store_const", const="paste", help="paste the redirected URL back (remote box)"
    )
    link.add_argument("--conn-id", default="tiktok_default", help="Airflow connection id (default: %(default)s)")
    link.add_argument("--client-key", help=f"app client key (default: ${ENV_CLIENT_KEY}, else prompt)")
    link.add_argument("--client-secret", help=f"app client secret (default: ${ENV_CLIENT_SECRET}, else hidden prompt)")
    link.add_argument("--scopes", default=DEFAULT_SCOPES, help="comma-separated scopes (default: %(default)s)")
    link.add_argument(
        "--redirect-uri",
        help="redirect URI registered for the app: required for --paste; for --browser a loopback URI with a port "
        "(default http://127.0.0.1:<random port>/callback/, register http://127.0.0.1:*/callback/); for --qr the "
        "URI sent with the code exchange (default: derived from TikTok's answer)",
    )
    link.add_argument("--port", type=int, default=0, help="--browser: listener port when no --redirect-uri (0: any)")
    link.add_argument("--no-browser", action="store_true", help="--browser: print the URL instead of opening it")
    link.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the browser redirect")
    link.add_argument("--qr-timeout", type=float, default=300.0, help="local cap on one QR code's life, seconds")
    link.add_argument("--poll-interval", type=float, default=2.0, help="seconds between check_qrcode polls")
    _add_api_base_url(link)
    link.add_argument(
        "--auth-base-url",
        default=authorize.DEFAULT_AUTH_BASE_URL,
        help="host of the authorize page (default: %(default)s)",
    )
    link.add_argument("--overwrite", action="store_true", help="replace an existing connection with this conn id")
    link.add_argument(
        "--output",
        choices=("uri", "json", "env"),
        help="print the connection (URI, JSON, or an AIRFLOW_CONN_ export) instead of writing the metadata DB",
    )
    link.add_argument("--output-file", help="with --output: write it (with secrets) to this file, mode 0600")
    link.add_argument("--show-secrets", action="store_true", help="print secrets in --output instead of masking")
    link.set_defaults(handler=cmd_link)

    lst = sub.add_parser("list", help="list linked TikTok connections and token freshness")
    lst.add_argument("--check", action="store_true", help="ask TikTok who each connection belongs to (network)")
    lst.set_defaults(handler=cmd_list)

    revoke = sub.add_parser("revoke", help="revoke a connection's tokens at TikTok and remove it")
    revoke.add_argument("--conn-id", default="tiktok_default", help="Airflow connection id (default: %(default)s)")
    revoke.add_argument("--keep-connection", action="store_true", help="only revoke; keep connection and Variable")
    revoke.add_argument("--force", action="store_true", help="remove the connection even if TikTok refused to revoke")
    revoke.set_defaults(handler=cmd_revoke)
    from airflow_provider_tiktok.publishing import history_cli

    history_cli.add_commands(sub)
    return parser


def _add_api_base_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-base-url",
        default=os.environ.get(ENV_API_BASE_URL, DEFAULT_BASE_URL),
        help=f"TikTok API host, e.g. the emulator's (default: ${ENV_API_BASE_URL} or %(default)s)",
    )


def main(argv: Sequence[str] | None = None, terminal: Terminal | None = None) -> int:
    """Entry point of ``airflow-tiktok`` and ``python -m airflow_provider_tiktok.link``; returns the exit code."""
    term = terminal or Terminal()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(term.err)
        return 2
    try:
        return int(args.handler(args, term))
    except (TikTokError, LinkAborted, store.ConnectionExistsError, ValueError) as exc:
        term.say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        term.say("aborted")
        return 130
    except Exception as exc:
        if not type(exc).__module__.startswith("sqlalchemy"):
            raise
        # Only the driver's message: the full SQLAlchemy text quotes statements and their parameters.
        term.say(
            f"error: cannot use the Airflow metadata DB ({type(exc).__name__}: {getattr(exc, 'orig', None) or '?'}). "
            "Run where `airflow` works (same AIRFLOW_HOME / sql_alchemy_conn; `airflow db migrate` first), "
            "or use --output to print the connection instead."
        )
        return 1


# --- link -------------------------------------------------------------------------------------------------------


def normalise_scopes(scopes: str) -> str:
    """TikTok wants commas; accept spaces too and drop duplicates, keeping order."""
    seen: dict[str, None] = {}
    for scope in scopes.replace(" ", ",").split(","):
        if scope.strip():
            seen.setdefault(scope.strip(), None)
    if not seen:
        raise LinkAborted("no scopes given")
    return ",".join(seen)


def _credentials(args: argparse.Namespace, term: Terminal) -> tuple[str, str]:
    key = args.client_key or os.environ.get(ENV_CLIENT_KEY) or term.input("TikTok client key: ").strip()
    secret = args.client_secret or os.environ.get(ENV_CLIENT_SECRET) or term.getpass("TikTok client secret: ").strip()
    if not key or not secret:
        raise LinkAborted("a client key and a client secret are required")
    return key, secret


def cmd_link(args: argparse.Namespace, term: Terminal) -> int:
    scopes = normalise_scopes(args.scopes)
    if args.output_file and not args.output:
        raise LinkAborted("--output-file needs --output")
    store.validate_conn_id(args.conn_id)
    if not args.output and not args.overwrite and store.connection_exists(args.conn_id):
        # Checked before the user goes through consent: an authorization code cannot be parked.
        raise LinkAborted(f"connection {args.conn_id!r} already exists; pass --overwrite to replace it")
    if not args.output:
        try:  # also before consent: the tokens must have a place to go
            store.ensure_tokens_writable(args.conn_id)
        except store.PlaintextTokensRefused as exc:
            raise LinkAborted(str(exc)) from None
    client_key, client_secret = _credentials(args, term)
    with sync_client(30.0) as http:
        oauth = TikTokOAuthClient(client_key, client_secret, base_url=args.api_base_url, http=http)
        grant = _FLOWS[args.mode](args, term, client_key, client_secret, scopes, http)
        issued_at = time.time()  # before the request: errs on the early side for expiry
        response = _exchange(oauth, grant)
        tokens = TokenSet.from_response(response, issued_at)
        granted = response.scopes or _split(grant.callback_scopes)
        user = _fetch_user(args.api_base_url, response, granted, http, term)
    _report_account(term, tokens.open_id, user, granted)
    linked = store.LinkedConnection(
        conn_id=args.conn_id,
        client_key=client_key,
        client_secret=client_secret,
        tokens=tokens,
        api_base_url=args.api_base_url,
        description=_describe(user, tokens.open_id),
    )
    if args.output:
        _emit(linked, args, term)
    else:
        updated = store.save(linked, overwrite=args.overwrite)
        term.say(
            f"{'Updated' if updated else 'Created'} Airflow connection {args.conn_id!r} (conn_type tiktok) and "
            f"seeded token Variable {linked.token_variable_key!r}."
        )
    return 0


def _split(scopes: str | None) -> list[str]:
    return [s for s in (scopes or "").replace(" ", ",").split(",") if s]


def _exchange(oauth: TikTokOAuthClient, grant: Grant) -> TokenResponse:
    """Exchange the code. For QR codes the right ``redirect_uri`` is undocumented: send the candidate, and if TikTok
    says the redirect does not match, retry once without one."""
    try:
        return oauth.exchange_code(grant.code, grant.redirect_uri, grant.code_verifier)
    except TikTokOAuthError as exc:
        if (
            grant.from_qr
            and grant.redirect_uri is not None
            and exc.code in ("invalid_grant", "invalid_request")
            and "redirect" in exc.message.lower()
        ):
            return oauth.exchange_code(grant.code, None)
        raise


def _fetch_user(
    api_base_url: str, response: TokenResponse, granted: list[str], http: httpx.Client, term: Terminal
) -> UserInfo | None:
    """Who was linked. ``username`` needs ``user.info.profile``; without ``user.info.basic`` we only know open_id."""
    if "user.info.basic" not in granted:
        term.say("note: user.info.basic was not granted, so the account's name cannot be shown.")
        return None
    from airflow_provider_tiktok.api.client import RetryPolicy, StaticToken, TikTokClient
    from airflow_provider_tiktok.api.models import UserInfo

    fields = [*UserInfo.DEFAULT_FIELDS, *(["username"] if "user.info.profile" in granted else [])]
    client = TikTokClient(
        api_base_url, StaticToken(response.access_token), retry=RetryPolicy(max_attempts=2), http=http
    )
    try:
        return client.user_info(fields=fields)
    except TikTokError as exc:
        term.say(f"warning: could not read the account's profile: {exc}")
        return None


def _describe(user: UserInfo | None, open_id: str | None) -> str:
    """Connection description: lets ``list`` name the account without calling TikTok."""
    if user is not None and user.display_name:
        handle = f" (@{user.username})" if user.username else ""
        return f"TikTok: {user.display_name}{handle}, open_id {user.open_id or open_id}"
    return f"TikTok: open_id {open_id}"


def _report_account(term: Terminal, open_id: str | None, user: UserInfo | None, granted: list[str]) -> None:
    if user is not None and user.display_name:
        handle = f" (@{user.username})" if user.username else ""
        term.say(f"Linked TikTok account: {user.display_name}{handle}, open_id {user.open_id or open_id}")
    else:
        term.say(f"Linked TikTok account: open_id {open_id}")
    term.say(f"Granted scopes: {', '.join(granted) if granted else '(none reported)'}")
    for scope, purpose in POSTING_SCOPES.items():
        if scope not in granted:
            term.say(
                f"warning: scope {scope} was not granted, so {purpose} will fail with scope_not_authorized. "
                f"Enable it for the app in the developer portal and link again, leaving it ticked on the consent page."
            )


def _emit(linked: store.LinkedConnection, args: argparse.Namespace, term: Terminal) -> None:
    if args.output_file:
        fd = os.open(args.output_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(store.render(linked, args.output, show_secrets=True) + "\n")
        term.say(f"Wrote the connection ({args.output}, with secrets) to {args.output_file}.")
        return
    print(store.render(linked, args.output, show_secrets=args.show_secrets), file=term.out, flush=True)
    if not args.show_secrets:
        term.say("Secrets are masked (***): use --output-file PATH, or --show-secrets to print them.")


# --- the three ways to get an authorization code -------------------------------------------------------------------


def _qr_flow(
    args: argparse.Namespace, term: Terminal, client_key: str, client_secret: str, scopes: str, http: httpx.Client
) -> Grant:
    client = qr.QRCodeClient(client_key, client_secret, base_url=args.api_base_url, http=http)
    while True:
        session = client.new_session(scopes)
        _show_qr(term, session.deep_link)
        status = _poll_qr(client, session, args, term)
        if status.status == "confirmed":
            assert status.code is not None
            redirect_uri = args.redirect_uri or qr.redirect_uri_candidate(status.returned_url)
            return Grant(code=status.code, redirect_uri=redirect_uri, from_qr=True)
        if status.status == "utilised":
            raise LinkAborted("this QR code's authorization was already handed out; run the command again")
        answer = term.input("The QR code expired. Show a new one? [Y/n] ").strip().lower()
        if answer not in ("", "y", "yes"):
            raise LinkAborted("the QR code expired; nothing was linked")


def _show_qr(term: Terminal, deep_link: str) -> None:
    import segno

    term.say("Scan this QR code with the TikTok app (Profile > scan icon) and confirm on the phone:")
    # Low error correction keeps the long deep link's QR small enough for a terminal.
    code = segno.make(deep_link, error="l", micro=False)
    try:
        code.terminal(out=term.err, compact=True)  # Unicode half blocks: half the height
    except UnicodeEncodeError:
        code.terminal(out=term.err)  # ASCII-only terminal: ANSI colours instead
    term.say(f"Deep link (if the QR does not render): {deep_link}")


def _poll_qr(client: qr.QRCodeClient, session: qr.QRSession, args: argparse.Namespace, term: Terminal) -> qr.QRStatus:
    """Poll until confirmed/expired/utilised; the local cap turns into "expired" (TikTok publishes no lifetime)."""
    deadline = term.monotonic() + args.qr_timeout
    failures = 0
    announced_scan = False
    while term.monotonic() < deadline:
        try:
            status = client.check(session)
        except qr.QRLinkError:
            raise
        except (TikTokError, httpx.TransportError) as exc:
            failures += 1
            transient = isinstance(exc, httpx.TransportError) or exc.retryable or exc.http_status == 403
            if not transient:
                raise
            if failures >= QR_TRANSIENT_FAILURES:
                term.say(f"warning: check_qrcode keeps failing ({type(exc).__name__}); treating the QR as expired")
                return qr.QRStatus(status="expired")
        else:
            failures = 0
            if status.status in qr.TERMINAL_STATUSES:
                return status
            if status.status == "scanned" and not announced_scan:
                announced_scan = True
                term.say("Scanned. Confirm the authorization on the phone...")
        term.sleep(args.poll_interval)
    return qr.QRStatus(status="expired")


def _browser_flow(
    args: argparse.Namespace, term: Terminal, client_key: str, client_secret: str, scopes: str, http: httpx.Client
) -> Grant:
    port, path = args.port, authorize.DEFAULT_CALLBACK_PATH
    if args.redirect_uri:
        port, path = authorize.parse_loopback_redirect_uri(args.redirect_uri)
    with authorize.LoopbackListener(port, path) as listener:
        redirect_uri = args.redirect_uri or f"http://127.0.0.1:{listener.port}{path}"
        request = authorize.build_auth_request(args.auth_base_url, client_key, scopes, redirect_uri)
        term.say(f"Authorize in your browser (waiting on {redirect_uri}):\n{request.url}")
        if not args.no_browser and not term.open_browser(request.url):
            term.say("Could not open a browser; open the URL above yourself.")
        callback_url = listener.wait(args.timeout)
    callback = authorize.parse_callback(callback_url)
    authorize.verify_state(callback, request.state)
    return Grant(callback.code, redirect_uri, request.pkce.verifier, callback.scopes)


def _paste_flow(
    args: argparse.Namespace, term: Terminal, client_key: str, client_secret: str, scopes: str, http: httpx.Client
) -> Grant:
    if not args.redirect_uri:
        raise LinkAborted("--paste needs --redirect-uri: the exact redirect URI registered for the app")
    request = authorize.build_auth_request(args.auth_base_url, client_key, scopes, args.redirect_uri)
    term.say("Open this URL in a browser (any machine), authorise, then copy the URL the browser ends on:")
    term.say(request.url)
    callback = authorize.parse_callback(term.input("Paste the redirected URL (or just the code): "))
    authorize.verify_state(callback, request.state, allow_missing=True)
    if callback.state is None:
        term.say("note: a bare code carries no state, so it could not be checked against this request.")
    return Grant(callback.code, args.redirect_uri, request.pkce.verifier, callback.scopes)


_FLOWS: dict[str, Callable[..., Grant]] = {"qr": _qr_flow, "browser": _browser_flow, "paste": _paste_flow}


# --- list -------------------------------------------------------------------------------------------------------


def _freshness(expires_at: float | None, now: float) -> str:
    if not expires_at:
        return "unknown"
    left = expires_at - now
    when = store.iso_utc(expires_at)
    if left <= 0:
        return f"expired {when}"
    hours, minutes = divmod(int(left) // 60, 60)
    days, hours = divmod(hours, 24)
    span = f"{days}d {hours}h" if days else f"{hours}h {minutes}m"
    return f"valid {span} (until {when})"


def cmd_list(args: argparse.Namespace, term: Terminal) -> int:
    connections = store.list_connections()
    if not connections:
        term.say("No TikTok connections (conn_type tiktok) in the metadata DB. Link one with `airflow-tiktok link`.")
        return 0
    now = time.time()
    for conn in connections:
        tokens = conn.tokens
        print(f"{conn.conn_id}", file=term.out)
        print(f"  account:  {conn.description or '-'}", file=term.out)
        print(f"  open_id:  {(tokens.open_id if tokens else None) or '-'}", file=term.out)
        if conn.problem:
            print(f"  problem:  {conn.problem}", file=term.out)
        print(f"  tokens:   from {conn.tokens_source} ({conn.variable_key})", file=term.out)
        print(f"  access:   {_freshness(tokens.access_expires_at if tokens else None, now)}", file=term.out)
        print(f"  refresh:  {_freshness(tokens.refresh_expires_at if tokens else None, now)}", file=term.out)
        if tokens is not None and tokens.relink_reason:
            print(f"  RELINK:   {tokens.relink_reason}", file=term.out)
            print(f"            run: {relink_command(conn.conn_id)}", file=term.out)
        if args.check:
            check, stats = _check(conn)
            print(f"  check:    {check}", file=term.out)
            if stats:
                print(f"  stats:    {stats}", file=term.out)
    term.out.flush()
    return 0


def _manager(s: TikTokConnectionSettings) -> TokenManager:
    """A token manager exactly like the hook's (Variable store, connection seed); refreshes persist."""
    from airflow_provider_tiktok.token_manager import TokenManager
    from airflow_provider_tiktok.tokens import VariableTokenStore

    oauth = TikTokOAuthClient(s.client_key, s.client_secret, base_url=s.api_base_url)
    # No waiting for a racing worker's rotation (the store is still re-read once): a dead chain should fail fast.
    return TokenManager(oauth, VariableTokenStore(s.token_variable_key), s.seed, conn_id=s.conn_id, lost_race_wait=0.0)


def _check(conn: store.StoredConnection) -> tuple[str, str | None]:
    """Who the connection belongs to, and the account's stats (Display API, scope user.info.stats)."""
    if conn.settings is None:
        return "not checked (connection incomplete)", None
    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.api.display import DisplayClient

    client = TikTokClient(conn.settings.api_base_url, _manager(conn.settings))
    try:
        user = client.user_info()
    except TikTokError as exc:
        return f"FAILED: {exc}", None
    try:
        stats = DisplayClient(client).user_info()
    except TikTokError as exc:
        if exc.code in ("scope_permission_missed", "scope_not_authorized"):
            summary = "not granted (link again with --scopes including user.info.stats)"
        else:
            summary = f"FAILED: {exc}"
    else:
        summary = (
            f"{stats.follower_count} followers, {stats.following_count} following, {stats.likes_count} likes, "
            f"{stats.video_count} videos"
        )
    return f"ok, {user.display_name or '?'} (open_id {user.open_id})", summary


# --- revoke -----------------------------------------------------------------------------------------------------


def cmd_revoke(args: argparse.Namespace, term: Terminal) -> int:
    conn = store.get_connection(args.conn_id)
    if conn is None:
        raise LinkAborted(f"no connection {args.conn_id!r} in the metadata DB")
    if conn.settings is None:
        raise LinkAborted(f"connection {args.conn_id!r} cannot be used: {conn.problem}")
    s = conn.settings
    manager = _manager(s)
    try:
        # Revoke takes the access token; an expired one is refreshed first (and the rotation persisted).
        TikTokOAuthClient(s.client_key, s.client_secret, base_url=s.api_base_url).revoke(manager.get_access_token())
    except TikTokError as exc:
        if not args.force or args.keep_connection:
            raise LinkAborted(
                f"TikTok did not revoke the authorization: {exc} (use --force to remove anyway)"
            ) from None
        term.say(f"warning: TikTok did not revoke the authorization: {exc}; removing the connection anyway (--force)")
    else:
        term.say(f"Revoked the TikTok authorization of {conn.description or args.conn_id}.")
    if args.keep_connection:
        term.say(f"Kept connection {args.conn_id!r}; its tokens no longer work.")
        return 0
    store.delete(conn)
    term.say(f"Removed connection {args.conn_id!r} and token Variable {conn.variable_key!r}.")
    return 0
