"""The `loomwork` command: serve, deliver, migrate, keys, seed-demo, export, import, backup, restore and mcp (stdio)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NotRequired, TypedDict

import typer
from rich.console import Console
from typer.core import TyperCommand

from loomwork import groups
from loomwork.config import ADMIN_KEY_FILE, Settings, load_settings, write_private_file
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade
from loomwork.errors import LoomworkError
from loomwork.identity import service as identity
from loomwork.principal import ROLES, Principal, Role
from loomwork.resources import secrets

if TYPE_CHECKING:
    import uuid
    from datetime import datetime
    from wsgiref.simple_server import WSGIServer

    from rich.progress import Progress
    from sqlalchemy.orm import Session

    from loomwork.engine.declaration import ArtifactKind
    from loomwork.ops.backup import Progress as PagesProgress

# Plain help (click's formatter), not rich's boxes: it rewraps whole sentences to the terminal and never
# cuts an option's name or an environment variable to fit a column.
HELP_WIDTH = {"max_content_width": 100}
app = typer.Typer(
    help="Loomwork: one home for the configuration of AI agents.",
    rich_markup_mode=None,
    no_args_is_help=True,
    context_settings=HELP_WIDTH,
)
keys_app = typer.Typer(
    help="Manage API keys.", rich_markup_mode=None, no_args_is_help=True, context_settings=HELP_WIDTH
)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)
greeting = Console(soft_wrap=True)  # the start message, on stdout

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="LOOMWORK_DATABASE_URL",
        metavar="URL",
        help="SQLAlchemy URL; default: SQLite at .loomwork/loomwork.sqlite3.",
    ),
]


def _settings(database_url: str | None) -> Settings:
    """The settings, or a clear message and exit 2 when one is unusable (a server secret under 32 bytes)."""
    try:
        return load_settings(database_url)
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


def _migrated(database_url: str | None) -> tuple[Settings, Database]:
    settings = _settings(database_url)
    _hold_database(settings.database_url)
    secrets.configure(settings.keyring)  # imports may hold provider keys, encrypted under it
    db = Database(settings.database_url)
    with console.status("Migrating the database..."):
        upgrade(db.engine)
    return settings, db


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Bring the database schema up to date."""
    settings, db = _migrated(database_url)
    db.dispose()
    console.print(f"[green]Database is up to date[/green] ({_safe_url(settings.database_url)}).")


_HOLDS: list[object] = []  # this process's hold on its SQLite database, kept until it exits


def _hold_database(database_url: str) -> None:
    """Hold the SQLite database for this process's lifetime, so `loomwork restore` refuses to replace it
    meanwhile (a restore in progress refuses this process instead)."""
    from loomwork.ops import backup as backups

    try:
        hold = backups.hold_database(database_url)
    except LoomworkError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(1) from None
    _HOLDS.append(hold)


def bootstrap_admin(settings: Settings, db: Database) -> str | None:
    """On an empty database: the group `default`, an admin profile and its key (returned once)."""
    with db.transaction(write=True) as session:
        if identity.has_any_group(session):
            return None
        return groups.create_group_key(
            session, settings.keyring, "default", Role.ADMIN, Role.ADMIN, key_name=BOOTSTRAP_KEY_NAME
        )


BOOTSTRAP_KEY_NAME = "admin (bootstrap)"


def pages_url(host: str, port: int) -> str:
    """Where a browser on this machine finds the pages: a wildcard interface is reached on loopback."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def print_start(url: str, key_file: Path, api_key: str | None) -> None:
    """What someone who just ran `make run` needs: where the pages are, the key to paste, a call that answers.
    On stdout, whole lines: stderr is the log, one JSON object a line when the log format is json."""
    if api_key:
        greeting.print("[bold]Created group 'default' with an admin profile. Its API key (shown once):[/bold]")
        print(api_key, flush=True)  # the key goes to stdout only, never into the logs
        greeting.print(f"Saved to {key_file} (mode 0600).")
    if key_file.exists():
        # The example reads the key from its file, so it can be pasted as it stands.
        greeting.print(
            f"Open {url}/ and sign in with the admin key in {key_file}.\n"
            "Load the sample project with `.venv/bin/loomwork seed-demo`, or ask the API from another terminal:\n"
            f'  curl -s -X POST {url}/api/v5/artifacts/personas/search -H "X-Api-Key: $(cat {key_file})" '
            "-H 'Content-Type: application/json' -d '{\"page_size\": 10}'",
            soft_wrap=True,
            highlight=False,
        )
    else:
        greeting.print(f"Open {url}/ and sign in with an API key (`loomwork keys create`).", highlight=False)


WORKER_HEALTHCHECK_SECONDS = 30


class _ServerOptions(TypedDict):
    """The uvicorn.run options one worker and several share."""

    host: str
    port: int
    log_config: dict[str, Any]
    access_log: bool
    timeout_graceful_shutdown: int
    timeout_worker_healthcheck: NotRequired[int]


LogFormat = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        envvar="LOOMWORK_LOG_FORMAT",
        metavar="FORMAT",
        help="json or text; default: json unless stderr is a terminal.",
    ),
]


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(envvar="LOOMWORK_HOST", metavar="HOST", help="Interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, envvar="LOOMWORK_PORT", metavar="PORT", help="Port to listen on.")
    ] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="LOOMWORK_WORKERS",
            metavar="N",
            help="Worker processes: one per core serves more clients at once.",
        ),
    ] = 1,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            envvar="LOOMWORK_METRICS_PORT",
            metavar="PORT",
            help="Serve Prometheus metrics at /metrics on this port (never on the API's).",
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            envvar="LOOMWORK_METRICS_HOST",
            metavar="HOST",
            help="Interface for the metrics port; widen it (0.0.0.0) only for a scraper you trust.",
        ),
    ] = "127.0.0.1",
    log_format: LogFormat = None,
    graceful_timeout: Annotated[
        int,
        typer.Option(
            "--graceful-timeout",
            min=0,
            envvar="LOOMWORK_GRACEFUL_TIMEOUT",
            metavar="SECONDS",
            help="On SIGTERM, seconds to let requests in flight finish before they are cancelled.",
        ),
    ] = 30,
) -> None:
    """Migrate the database, then serve the API."""
    import inspect
    import os

    import uvicorn

    from loomwork.ops import logs

    log_format = (log_format or logs.default_log_format()).lower()
    if log_format not in logs.LOG_FORMATS:
        console.print(f"[red]--log-format must be json or text, not {log_format!r}.[/red]")
        raise typer.Exit(2)
    if metrics_port == port:
        console.print(
            f"[red]--metrics-port must differ from --port ({port}): metrics never share the API's port.[/red]"
        )
        raise typer.Exit(2)
    logs.configure_logging(log_format)

    settings, db = _migrated(database_url)
    _bootstrap(settings, db, pages_url(host, port))
    common: _ServerOptions = {
        "host": host,
        "port": port,
        "log_config": logs.uvicorn_log_config(log_format),
        "access_log": False,
        "timeout_graceful_shutdown": graceful_timeout,
    }
    if workers == 1:
        from loomwork.app import create_app

        app_ = create_app(settings, db)
        metrics = _start_metrics(metrics_host, metrics_port, settings.database_url, None)
        try:
            uvicorn.run(app_, **common)
        finally:
            if metrics:
                metrics.shutdown()
        return
    # Each worker builds its own app (and connection pool) from the environment. Drafts, idempotency and
    # version checks hold across processes: they rest on database locks, and MCP runs stateless.
    db.dispose()
    os.environ.update(LOOMWORK_DATABASE_URL=settings.database_url, LOOMWORK_DATA_DIR=str(settings.data_dir))
    multiprocess_dir: str | None = None
    made_here = False
    if metrics_port:
        from loomwork.ops.multiproc import prepare_multiprocess_dir

        # Before the workers start: they inherit it and write their figures there (spawned, so they
        # import prometheus_client afresh with it set).
        multiprocess_dir, made_here = prepare_multiprocess_dir()
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        # uvicorn replaces a worker that does not answer its health check in time; on a busy machine
        # a worker still importing the app can take longer than uvicorn's 5 s, and would be killed
        # over and over before it ever served.
        common["timeout_worker_healthcheck"] = WORKER_HEALTHCHECK_SECONDS
    metrics = None
    try:
        metrics = _start_metrics(metrics_host, metrics_port, settings.database_url, multiprocess_dir)
        uvicorn.run("loomwork.app:create_app", factory=True, workers=workers, **common)
    finally:
        if metrics:
            metrics.shutdown()
        if made_here and multiprocess_dir:
            from loomwork.ops.multiproc import remove_multiprocess_dir

            remove_multiprocess_dir(multiprocess_dir)
        elif multiprocess_dir:  # the operator's directory: leave no live gauge of this process behind
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), multiprocess_dir)


def _bootstrap(settings: Settings, db: Database, url: str | None) -> None:
    """On an empty database, make the admin key and save it; with a URL, say how to start (serve does)."""
    api_key = bootstrap_admin(settings, db)
    key_file = settings.data_dir / ADMIN_KEY_FILE
    if api_key:
        write_private_file(key_file, api_key + "\n")
    if url is not None:
        print_start(url, _relative(key_file), api_key)
    elif api_key:
        console.print("[bold]Created group 'default' with an admin profile. Its API key (shown once):[/bold]")
        print(api_key, flush=True)
        console.print(f"Saved to {_relative(key_file)} (mode 0600): sign in to the pages with it.", highlight=False)


def _relative(path: Path) -> Path:
    """The path as the person typed their way to it: relative to the working directory when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _start_metrics(host: str, port: int | None, database_url: str, multiprocess_dir: str | None) -> WSGIServer | None:
    if not port:
        return None
    import logging

    from loomwork.ops.exposition import start_metrics_server

    try:
        server = start_metrics_server(host, port, database_url, multiprocess_dir)
    except OSError as error:
        console.print(f"[red]--metrics-port {port}: cannot listen on {host}:{port} ({error.strerror}).[/red]")
        raise typer.Exit(2) from None
    logging.getLogger("loomwork.metrics").info("Serving Prometheus metrics at http://%s:%s/metrics", host, port)
    return server


@app.command("deliver")
def deliver(database_url: DatabaseUrl = None) -> None:
    """Run the webhook delivery worker alone (serve runs one too). SIGTERM lets the attempt in progress finish."""
    import signal

    from loomwork.events.delivery import DeliveryWorker

    settings, db = _migrated(database_url)
    worker = DeliveryWorker(db, settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop.set())
    console.print(
        f"Delivering webhooks from {_safe_url(settings.database_url)} (SIGTERM stops after the current attempt)."
    )
    worker.run()
    db.dispose()
    console.print("Delivery worker stopped.")


@app.command("mcp")
def mcp_stdio(
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="An agent key (loomwork keys create --agent ...). Prefer the LOOMWORK_API_KEY environment "
            "variable: other local users can read options from the process list.",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve MCP over stdio: an agent searches, reads and proposes; every call is an agent's."""
    import os

    import anyio

    from loomwork.app import create_app
    from loomwork.mcp.server import serve_stdio

    key = os.environ.get("LOOMWORK_API_KEY") or api_key
    source = "LOOMWORK_API_KEY" if os.environ.get("LOOMWORK_API_KEY") else "--api-key"
    if not key:
        console.print("[red]Set LOOMWORK_API_KEY to the agent's key (or pass --api-key).[/red]")
        raise typer.Exit(2)
    if api_key and not os.environ.get("LOOMWORK_API_KEY"):
        console.print(
            "[yellow]--api-key is visible to other local users in the process list; "
            "set LOOMWORK_API_KEY instead.[/yellow]"
        )
    settings, db = _migrated(database_url)
    try:
        with db.transaction(write=False) as session:
            principal = identity.authenticate(session, settings.keyring, key, via_agent=True)
    except LoomworkError as error:
        console.print(f"[red]{source}: {error.detail}[/red]")
        raise typer.Exit(2) from None
    console.print(f"Serving MCP on stdio as {principal.name!r} (an agent: it proposes, people decide).")
    anyio.run(serve_stdio, create_app(settings, db), key)


@keys_app.command("create")
def keys_create(
    group: Annotated[str, typer.Option("--group", metavar="NAME", help="Group name; created when missing.")],
    name: Annotated[
        str,
        typer.Option(
            "--name",
            metavar="NAME",
            help="Who the key is for (a person or an agent), created when missing; the key is named after them.",
        ),
    ],
    role: Annotated[
        str, typer.Option("--role", metavar="ROLE", help="viewer, editor or admin (an agent: viewer or editor).")
    ],
    agent: Annotated[
        bool,
        typer.Option(
            "--agent",
            help="The profile is an AI agent: every request it makes is an agent's (it proposes, people decide).",
        ),
    ] = False,
    sponsor: Annotated[
        str | None,
        typer.Option(
            "--sponsor",
            metavar="PERSON",
            help="With --agent: the name of the person in the group who answers for the agent.",
        ),
    ] = None,
    key_name: Annotated[
        str | None,
        typer.Option(
            "--key-name", metavar="NAME", help="What the key is for, as the keys page lists it; default: --name."
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key; the key is printed alone on the last line."""
    key_name = name if key_name is None else key_name
    allowed = identity.AGENT_ROLES if agent else ROLES
    if role not in allowed:
        console.print(
            f"[red]--role must be one of {', '.join(allowed)}, not {role!r}"
            f"{' (an agent is never an admin)' if agent else ''}.[/red]"
        )
        raise typer.Exit(2)
    if agent != bool(sponsor):
        console.print(
            "[red]--agent needs --sponsor NAME (the person who answers for it), and only an agent has a sponsor.[/red]"
        )
        raise typer.Exit(2)
    for option, value in (
        ("--group", group),
        ("--name", name),
        ("--key-name", key_name),
        *((("--sponsor", sponsor),) if sponsor is not None else ()),
    ):
        if not value.strip() or len(value) > 200:
            console.print(f"[red]{option} must be 1 to 200 characters.[/red]")
            raise typer.Exit(2)
    settings, db = _migrated(database_url)
    try:
        with db.transaction(write=True) as session:
            group_row = groups.ensure_group(session, group.strip())
            if sponsor is not None:  # only an agent has one (checked above)
                profile = identity.ensure_agent(session, group_row, name.strip(), role, sponsor.strip())
            else:
                profile = identity.ensure_profile(session, group_row, name.strip(), role)
            api_key = identity.create_key(session, settings.keyring, profile, key_name.strip())
    except LoomworkError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    what = f"an agent key (sponsor {sponsor!r})" if agent else "a key"
    console.print(f"Created {what} with role {role} for {name!r} in group {group!r}; it is shown once:")
    print(api_key, flush=True)


def _cli_principal(session: Session, group_id: uuid.UUID) -> Principal:
    """The command line acts as the admin profile `cli` of the group (as export and import do)."""
    from loomwork.identity.models import Group

    group_row = session.get_one(Group, group_id)
    profile = identity.ensure_profile(session, group_row, "cli", Role.ADMIN)
    return Principal(profile.id, group_row.id, profile.name, profile.role)


@keys_app.command("list")
def keys_list(
    group: Annotated[str, typer.Option("--group", metavar="NAME", help="The group whose keys to list.")],
    database_url: DatabaseUrl = None,
) -> None:
    """List a group's keys (never their secrets), revoked ones included, newest first."""
    import uuid

    from rich.table import Table
    from sqlalchemy import select

    from loomwork.identity import management
    from loomwork.identity.models import Group

    _settings, db = _migrated(database_url)
    with db.transaction(write=False) as session:
        group_id = session.scalar(select(Group.id).where(Group.name == group))
        # Listing writes nothing: an admin's view of the group, for no profile in particular.
        reader = Principal(uuid.UUID(int=0), group_id, "cli", Role.ADMIN) if group_id else None
        keys = management.search_keys(session, reader, None, True)["keys"] if reader else None
    db.dispose()
    if keys is None:
        console.print(f"[red]--group: no group named {group!r}.[/red]")
        raise typer.Exit(2)
    table = Table("key_id", "profile", "type", "name", "prefix", "created", "expires", "last used", "revoked")

    def when(moment: datetime | None) -> str:
        return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"

    for key in keys:
        table.add_row(
            str(key["key_id"]),
            key["profile_name"],
            key["profile_type"],
            key["name"],
            key["prefix"],
            when(key["created_at"]),
            when(key["expires_at"]),
            when(key["last_used_at"]),
            when(key["revoked_at"]),
        )
    Console(width=200).print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key_id (from `loomwork keys list`).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: it answers 401 key_revoked from now on, and its page sessions end."""
    import uuid

    from sqlalchemy import select

    from loomwork.identity import management
    from loomwork.identity.models import ApiKey, Profile

    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        console.print(f"[red]KEY_ID must be a key_id (a UUID), not {key_id!r}.[/red]")
        raise typer.Exit(2) from None
    _settings, db = _migrated(database_url)
    with db.transaction(write=True) as session:
        group_id = session.scalar(
            select(Profile.group_id).join(ApiKey, ApiKey.profile_id == Profile.id).where(ApiKey.id == parsed)
        )
        result = None
        if group_id is not None:
            (result,) = management.revoke_keys(session, _cli_principal(session, group_id), [parsed])["results"]
    db.dispose()
    if result is None:
        console.print(f"[red]No key {key_id}.[/red]")
        raise typer.Exit(1)
    console.print(f"[green]{key_id}: {result['message']}[/green]")


@app.command("rotate-secret")
def rotate_secret(database_url: DatabaseUrl = None) -> None:
    """Re-encrypt every stored secret (provider keys, ...) under LOOMWORK_SECRET_KEY, with no downtime.

    1. Restart the servers with the new secret in LOOMWORK_SECRET_KEY and the old one in
    LOOMWORK_OLD_SECRET_KEYS: both are accepted.

    2. Run this with the same two variables.

    3. Drop the old secret once no API key needs it: a key made under it is hashed again under the new
    one when first used, and this command counts those still waiting (a key never used meanwhile stops working).
    """
    settings, db = _migrated(database_url)
    try:
        with db.transaction(write=True) as session:
            counts = secrets.rotate_all(session)
            waiting = identity.keys_not_under(session, settings.keyring)
    except ValueError as error:  # a token no given secret opens: nothing was changed
        console.print(f"[red]{error}; add the secret it was made under to LOOMWORK_OLD_SECRET_KEYS.[/red]")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    for place, count in counts.items():
        console.print(f"Re-encrypted {count:,} values of {place}.")
    console.print(f"API keys still hashed under an old secret (re-hashed when next used): {waiting:,}.")


def _kind(plural: str) -> ArtifactKind:
    from loomwork.kinds import ARTIFACT_KINDS

    for kind in ARTIFACT_KINDS:
        if kind.plural == plural:
            return kind
    console.print(f"[red]Unknown kind {plural!r}; choose one of {', '.join(k.plural for k in ARTIFACT_KINDS)}.[/red]")
    raise typer.Exit(2)


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )


def _acting_in(kind: str, group: str, database_url: str | None) -> tuple[ArtifactKind, Database, Principal]:
    """The kind, a migrated database, and the CLI's principal: an admin profile `cli` in the group."""
    artifact_kind = _kind(kind)
    _settings, db = _migrated(database_url)
    with db.transaction(write=True) as session:
        group_row = groups.ensure_group(session, group)
        profile = identity.ensure_profile(session, group_row, "cli", Role.ADMIN)
        principal = Principal(profile.id, group_row.id, profile.name, profile.role)
    return artifact_kind, db, principal


GroupOption = Annotated[str, typer.Option("--group", metavar="NAME", help="The group to act in.")]


def _count(plural: str) -> Any:
    return typer.Option(f"--{plural}", min=0, metavar="N", help=f"With --bulk: how many {plural} to generate.")


@app.command("seed-demo")
def seed_demo(
    bulk: Annotated[
        bool,
        typer.Option("--bulk", help="Synthetic data in bulk, for the benchmarks, instead of the sample project."),
    ] = False,
    personas: Annotated[int | None, _count("personas")] = None,
    tools: Annotated[int | None, _count("tools")] = None,
    evals: Annotated[int | None, _count("evals")] = None,
    invocations: Annotated[int | None, _count("invocations")] = None,
    group: GroupOption = "default",
    database_url: DatabaseUrl = None,
) -> None:
    """Load the sample project: the personas, tools, evals and invocations of a shop's support team.

    It has a short history, labels and one AI agent's proposal waiting for review. Loading it again changes
    nothing.

    With --bulk it writes deterministic synthetic data instead (1,000 personas unless counts are given), the
    same every time: what the benchmarks measure.
    """
    counts = {"personas": personas, "tools": tools, "evals": evals, "invocations": invocations}
    if not bulk and any(count is not None for count in counts.values()):
        given = next(plural for plural, count in counts.items() if count is not None)
        console.print(f"[red]--{given} counts synthetic data: add --bulk (without it, the sample project loads).[/red]")
        raise typer.Exit(2)
    settings, db = _migrated(database_url)
    if not bulk:
        # Before `serve` ever ran, the sample would make the first group, and serve would then make no admin key.
        _bootstrap(settings, db, None)
        _load_sample(db, group)
        return
    from functools import partial

    from loomwork.demo import DemoSeeder

    sizes = {plural: count or 0 for plural, count in counts.items()}
    if all(count is None for count in counts.values()):
        sizes["personas"] = 1000
    seeder = DemoSeeder(db, group)
    with _progress() as progress:
        for plural, count in sizes.items():
            if count:
                task = progress.add_task(f"Seeding {plural}", total=count)
                seeder.seed(_kind(plural), count, partial(progress.advance, task))
    db.dispose()
    done = ", ".join(f"{count:,} {plural}" for plural, count in sizes.items() if count) or "nothing"
    console.print(f"[green]Seeded {done} into group {group!r}.[/green]")


def _load_sample(db: Database, group: str) -> None:
    from loomwork import sample

    try:
        with console.status("Loading the sample project..."):
            loaded = sample.load(db, group)
    finally:
        db.dispose()
    if loaded.already_there:
        console.print(f"The sample project is already in group {group!r}: nothing changed.")
        return
    made = ", ".join(f"{count} {kind}s" for kind, count in loaded.counts.items())
    console.print(
        f"[green]Loaded the sample project into group {group!r}:[/green] {made}, with labels, a short "
        "history and one proposal from an AI agent waiting in the review queue. Reload the pages to see it.",
        highlight=False,
    )


@app.command("export")
def export_command(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="personas, tools, evals or invocations.")],
    out: Annotated[typer.FileBinaryWrite, typer.Option("--out", metavar="FILE", help="Where to write the CSV.")],
    group: GroupOption = "default",
    database_url: DatabaseUrl = None,
) -> None:
    """Export every artifact of a kind to a CSV file."""
    from loomwork.engine import search, transfer

    artifact_kind, db, principal = _acting_in(kind, group, database_url)
    with db.transaction(write=False) as session, _progress() as progress:
        ids = list(session.scalars(search.matching_ids_query(artifact_kind, principal, {}, db.dialect)))
        task = progress.add_task(f"Exporting {kind}", total=len(ids))
        data, count = transfer.write_csv(
            transfer.export_rows(session, artifact_kind, principal.group_id, ids), lambda: progress.advance(task)
        )
    out.write(data)
    db.dispose()
    console.print(f"[green]Exported {count:,} {kind} to {out.name}.[/green]")


@app.command("import")
def import_command(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="personas, tools, evals or invocations.")],
    file: Annotated[typer.FileBinaryRead, typer.Argument(metavar="FILE", help="A CSV in the export's format.")],
    group: GroupOption = "default",
    database_url: DatabaseUrl = None,
) -> None:
    """Import a CSV: each row creates, updates or leaves unchanged one artifact; a failing row changes nothing."""
    from loomwork.engine import transfer

    artifact_kind, db, principal = _acting_in(kind, group, database_url)
    try:
        rows = transfer.read_csv(artifact_kind, file.read())
    except LoomworkError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(2) from None
    with _progress() as progress:
        task = progress.add_task(f"Importing {kind}", total=len(rows))
        result = transfer.import_in_batches(
            db, artifact_kind, principal, rows, lambda: progress.advance(task), keep_free_ids=True
        )
    db.dispose()
    for failure in (r for r in result["results"] if not r["success"]):
        console.print(f"[red]line {failure['line']}: {failure['message']}[/red]")
    console.print(
        f"Created {result['created']:,}, updated {result['updated']:,}, unchanged {result['unchanged']:,}, "
        f"failed {result['failed']:,}."
    )
    if result["failed"]:
        raise typer.Exit(1)


def _database_url(database_url: str | None) -> str:
    """The configured database, as load_settings finds it, without making a secret where none is yet
    (restore on a new machine must not invent one: the backup's keys need the old one)."""
    import os
    from pathlib import Path

    from loomwork.config import SQLITE_FILE, normalise_database_url

    url = database_url or os.environ.get("LOOMWORK_DATABASE_URL")
    if not url:
        url = f"sqlite:///{Path(os.environ.get('LOOMWORK_DATA_DIR') or Path.cwd() / '.loomwork') / SQLITE_FILE}"
    return normalise_database_url(url)


def _sqlite_file_or_exit(url: str, command: str) -> Path:
    from loomwork.ops import backup as backups

    try:
        path = backups.sqlite_path(url)
    except LoomworkError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(2) from None
    if path is None:
        safe = _safe_url(url).replace("postgresql+psycopg://", "postgresql://")
        dump = f"pg_dump --format=custom --file=loomwork.dump '{safe}'"
        load = f"pg_restore --clean --if-exists --no-owner --dbname='{safe}' loomwork.dump"
        console.print(
            f"`loomwork {command}` copies SQLite databases. For PostgreSQL use its own tools:\n"
            f"  backup:  {dump}\n  restore: {load}\n"
            "(see 'Backups' in docs/operations.md).",
            soft_wrap=True,
            highlight=False,
        )
        console.print(backups.SECRET_NOTICE, style="bold yellow", soft_wrap=True)
        raise typer.Exit(2)
    return path


def _pages_progress(description: str) -> tuple[Progress, PagesProgress]:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(description, total=None)
    return progress, lambda done, total: progress.update(task, completed=done, total=total)


@app.command("backup")
def backup_command(
    to: Annotated[Path, typer.Option("--to", help="The file to write the backup to.", dir_okay=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace the file when it exists.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Back up the SQLite database while the server keeps serving (a consistent snapshot)."""
    from loomwork.ops import backup as backups

    database = _sqlite_file_or_exit(_database_url(database_url), "backup")
    progress, advance = _pages_progress("Backing up")
    try:
        with progress:
            pages = backups.backup(database, to, advance, force=force)
    except LoomworkError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]Backed up {database} to {to}[/green] ({pages:,} pages, {to.stat().st_size:,} bytes).")
    console.print(backups.SECRET_NOTICE, style="bold yellow", soft_wrap=True)


@app.command("restore")
def restore_command(
    from_: Annotated[Path, typer.Option("--from", help="A file `loomwork backup` wrote.", dir_okay=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that already holds data.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Restore a backup into the SQLite database (the server stopped), then migrate it."""
    import os

    from loomwork.config import SECRET_FILE
    from loomwork.ops import backup as backups

    url = _database_url(database_url)
    database = _sqlite_file_or_exit(url, "restore")
    progress, advance = _pages_progress("Restoring")

    def migrate() -> None:
        progress.stop()
        db = Database(url)
        try:
            with console.status("Migrating the restored database..."):
                upgrade(db.engine)
        finally:
            db.dispose()

    try:
        with progress:
            pages = backups.restore(from_, database, advance, force=force, migrate=migrate)
    except LoomworkError as error:
        console.print(f"[red]{error.detail}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"[green]Restored {from_} into {database}[/green] ({pages:,} pages); migrated to the current schema.")
    console.print(backups.SECRET_NOTICE, style="bold yellow", soft_wrap=True)
    data_dir = Path(os.environ.get("LOOMWORK_DATA_DIR") or Path.cwd() / ".loomwork")
    if not os.environ.get("LOOMWORK_SECRET_KEY") and not (data_dir / SECRET_FILE).exists():
        console.print(
            f"No server secret here yet: put the one kept with the backup at {data_dir / SECRET_FILE} "
            "(or in LOOMWORK_SECRET_KEY) before `loomwork serve`, which would otherwise make a new one "
            "that none of the restored keys match.",
            style="bold red",
        )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- configuration as code (issue 35): pull, plan and apply through the public API -----------------------------

ServerUrl = Annotated[
    str,
    typer.Option(
        "--url", envvar="LOOMWORK_URL", metavar="URL", help="The Loomwork server, e.g. https://loomwork.example."
    ),
]
ServerKey = Annotated[
    str,
    typer.Option(
        "--key",
        envvar="LOOMWORK_API_KEY",
        metavar="KEY",
        help="An API key; it names the group. Prefer LOOMWORK_API_KEY (other users can read a process's arguments).",
    ),
]
Folder = Annotated[Path, typer.Argument(metavar="DIR", help="The folder: personas/, tools/, evals/, invocations/.")]
PruneOption = Annotated[
    bool, typer.Option("--prune", help="Also delete artifacts of the folder's kinds that have no file.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for tools instead of text.")]


def _gitops_progress() -> Any:
    """`progress(description, total)` -> a tick, drawn on stderr (quiet when it is no terminal)."""
    bar = _progress()

    def start(description: str, total: int) -> Any:
        task = bar.add_task(description, total=total)
        return lambda: bar.advance(task)

    return bar, start


def _remote_or_exit(url: str, key: str) -> Any:
    from loomwork.gitops.remote import Remote

    if not url or not key:
        console.print("[red]Give the server and a key: --url and --key, or LOOMWORK_URL and LOOMWORK_API_KEY.[/red]")
        raise typer.Exit(1)
    return Remote(url, key)


def _planned(remote: Any, folder: Path, prune: bool) -> Any:
    from loomwork.gitops.format import FolderError
    from loomwork.gitops.plan import make_plan
    from loomwork.gitops.remote import RemoteError

    bar, start = _gitops_progress()
    try:
        with bar:
            return make_plan(remote, folder, prune=prune, progress=start)
    except FolderError as error:
        for problem in error.errors:
            console.print(str(problem), style="red", highlight=False, markup=False)
        console.print("[red]Nothing was applied: fix the files above first.[/red]")
        raise typer.Exit(1) from None
    except RemoteError as error:
        console.print(f"[red]The server refused: {error.detail} ({error.status} {error.code})[/red]", highlight=False)
        raise typer.Exit(1) from None


@app.command("pull")
def pull_command(
    folder: Folder,
    url: ServerUrl = "",
    key: ServerKey = "",
    kind: Annotated[
        list[str] | None, typer.Option("--kind", metavar="KIND", help="Only this kind (repeat for more).")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", metavar="LABEL", help="Only artifacts with this label.")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", metavar="TEXT", help="Only artifacts matching this text.")
    ] = None,
) -> None:
    """Write the group's artifacts to DIR, one YAML file each (the same state always writes the same bytes)."""
    from loomwork.gitops.format import KINDS
    from loomwork.gitops.pull import pull
    from loomwork.gitops.remote import RemoteError
    from loomwork.gitops.schema import write_schemas

    kinds = tuple(kind or KINDS)
    for name in kinds:
        if name not in KINDS:
            console.print(f"[red]Unknown kind {name!r}; choose one of {', '.join(KINDS)}.[/red]")
            raise typer.Exit(1)
    bar, start = _gitops_progress()
    with _remote_or_exit(url, key) as remote:
        try:
            with bar:
                written = pull(remote, folder, kinds=kinds, label=label, search=search, progress=start)
        except RemoteError as error:
            console.print(
                f"[red]The server refused: {error.detail} ({error.status} {error.code})[/red]", highlight=False
            )
            raise typer.Exit(1) from None
    write_schemas(folder)
    done = ", ".join(f"{count:,} {plural}" for plural, count in written.items())
    console.print(f"[green]Pulled {done} into {folder}.[/green]", highlight=False)


@app.command("plan")
def plan_command(
    folder: Folder,
    url: ServerUrl = "",
    key: ServerKey = "",
    prune: PruneOption = False,
    as_json: JsonOption = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 0 with nothing to change, 2 with changes, 1 on an error.")
    ] = False,
) -> None:
    """Show what `apply` would change, per artifact and per field; change nothing."""
    import json

    from loomwork.gitops.plan import render

    with _remote_or_exit(url, key) as remote:
        plan = _planned(remote, folder, prune)
    if as_json:
        typer.echo(json.dumps(plan.as_json(), indent=2, ensure_ascii=False))
    else:
        out = Console(highlight=False)
        colour = out.is_terminal
        for line in render(plan, colour):
            out.print(line, markup=colour, soft_wrap=True)
    if exit_code and not plan.empty:
        raise typer.Exit(2)


@app.command("apply")
def apply_command(
    folder: Folder,
    url: ServerUrl = "",
    key: ServerKey = "",
    prune: PruneOption = False,
    as_json: JsonOption = False,
    message: Annotated[
        str | None,
        typer.Option(
            "--message", metavar="TEXT", help="Each revision's message, or each proposal's key (name the pull request)."
        ),
    ] = None,
) -> None:
    """Carry the plan out: a person's key commits (each artifact checked against the version the plan read);
    an agent's key proposes every change for a person to review. Exit 1 when any change failed."""
    import json

    from loomwork.gitops.apply import apply_plan
    from loomwork.gitops.remote import RemoteError

    with _remote_or_exit(url, key) as remote:
        plan = _planned(remote, folder, prune)
        bar, start = _gitops_progress()
        try:
            with bar:
                tick = start("Applying", len(plan.changes))
                outcomes = apply_plan(remote, plan, message=message, progress=tick)
        except RemoteError as error:
            console.print(
                f"[red]The server refused: {error.detail} ({error.status} {error.code})[/red]", highlight=False
            )
            raise typer.Exit(1) from None
    failed = [o for o in outcomes if o.status not in ("done", "proposed")]
    if as_json:
        typer.echo(json.dumps({"outcomes": [o.as_json() for o in outcomes]}, indent=2, ensure_ascii=False))
    else:
        for outcome in outcomes:
            change = outcome.change
            extra = f": {outcome.detail}" if outcome.detail else ""
            queue = f" (proposal {', '.join(outcome.proposals)})" if outcome.proposals else ""
            typer.echo(f"{outcome.status:9} {change.action} {change.kind[:-1]} {change.name!r}{queue}{extra}")
        if not outcomes:
            typer.echo("No changes: the registry matches the folder.")
    if failed:
        raise typer.Exit(1)


class _Command(TyperCommand):
    """Usage lines name required arguments in capitals (`export KIND`), as the help text does, not `{KIND}`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [piece.strip("{}") for piece in super().collect_usage_pieces(ctx)]


for _info in (*app.registered_commands, *keys_app.registered_commands):
    if _info.cls in (None, TyperCommand):
        _info.cls = _Command


if __name__ == "__main__":
    app()
