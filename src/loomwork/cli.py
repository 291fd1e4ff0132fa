"""The `loomwork` command: serve, migrate, keys, seed-demo, export, import and mcp (stdio)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from loomwork.config import ADMIN_KEY_FILE, Settings, load_settings, write_private_file
from loomwork.db.database import Database
from loomwork.db.migrate import upgrade
from loomwork.errors import LoomworkError
from loomwork.identity import service as identity
from loomwork.resources import secrets

app = typer.Typer(help="Loomwork: one home for the configuration of AI agents.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="LOOMWORK_DATABASE_URL",
                 help="SQLAlchemy URL; default: SQLite at .loomwork/loomwork.sqlite3."),
]


def _migrated(database_url: str | None) -> tuple[Settings, Database]:
    settings = load_settings(database_url)
    secrets.configure(settings.secret_key)  # imports may hold provider keys, encrypted under it
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


def bootstrap_admin(settings: Settings, db: Database) -> str | None:
    """On an empty database: the group `default`, an admin profile and its key (returned once)."""
    with db.transaction(write=True) as session:
        if identity.has_any_group(session):
            return None
        return identity.create_group_key(session, settings.secret_key, "default", "admin", "admin")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(min=1, envvar="LOOMWORK_WORKERS",
                                         help="Worker processes: one per core serves more clients at once.")] = 1,
) -> None:
    """Migrate the database, then serve the API."""
    import os

    import uvicorn

    from loomwork.app import create_app

    settings, db = _migrated(database_url)
    api_key = bootstrap_admin(settings, db)
    if api_key:
        key_file = settings.data_dir / ADMIN_KEY_FILE
        write_private_file(key_file, api_key + "\n")
        console.print("[bold]Created group 'default' with an admin profile. Its API key (shown once):[/bold]")
        print(api_key, flush=True)
        console.print(f"Saved to {key_file} (mode 0600). Send it as a header, for example:\n"
                      f"  curl -H 'X-Api-Key: {api_key}' -X POST http://{host}:{port}/api/v5/artifacts/personas/get "
                      "-H 'Content-Type: application/json' -d '{}'", soft_wrap=True)
    if workers == 1:
        uvicorn.run(create_app(settings, db), host=host, port=port, log_level="info")
        return
    # Each worker builds its own app (and connection pool) from the environment. Drafts, idempotency and
    # version checks hold across processes: they rest on database locks, and MCP runs stateless.
    db.dispose()
    os.environ.update(LOOMWORK_DATABASE_URL=settings.database_url, LOOMWORK_DATA_DIR=str(settings.data_dir))
    # A worker answers the supervisor's health ping only once it has imported the app; on a loaded machine
    # that took over uvicorn's default 5 s, and the supervisor killed every worker while it started.
    uvicorn.run("loomwork.app:create_app", factory=True, workers=workers, host=host, port=port, log_level="info",
                timeout_worker_healthcheck=60)


@app.command("mcp")
def mcp_stdio(
    api_key: Annotated[str, typer.Option("--api-key", envvar="LOOMWORK_API_KEY",
                                         help="The key of the person the agent works for.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Serve MCP over stdio: an agent searches, reads and proposes; every call acts as an X-MCP caller."""
    import anyio

    from loomwork.app import create_app
    from loomwork.mcp.server import serve_stdio

    settings, db = _migrated(database_url)
    try:
        with db.transaction(write=False) as session:
            principal = identity.authenticate(session, settings.secret_key, api_key, via_agent=True)
    except LoomworkError as error:
        console.print(f"[red]--api-key: {error.detail}[/red]")
        raise typer.Exit(2) from None
    console.print(f"Serving MCP on stdio as {principal.name!r} (an agent: it proposes, people decide).")
    anyio.run(serve_stdio, create_app(settings, db), api_key)


@keys_app.command("create")
def keys_create(
    group: Annotated[str, typer.Option("--group", help="Group name; created when missing.")],
    name: Annotated[str, typer.Option("--name", help="Profile display name; created when missing.")],
    role: Annotated[str, typer.Option("--role", help="viewer, editor or admin.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key; the key is printed alone on the last line."""
    if role not in identity.ROLES:
        console.print(f"[red]--role must be one of {', '.join(identity.ROLES)}, not {role!r}.[/red]")
        raise typer.Exit(2)
    for option, value in (("--group", group), ("--name", name)):
        if not value.strip() or len(value) > 200:
            console.print(f"[red]{option} must be 1 to 200 characters.[/red]")
            raise typer.Exit(2)
    settings, db = _migrated(database_url)
    with db.transaction(write=True) as session:
        api_key = identity.create_group_key(session, settings.secret_key, group.strip(), name.strip(), role)
    db.dispose()
    console.print(f"Created a {role} key for {name!r} in group {group!r}; it is shown once:")
    print(api_key, flush=True)


def _kind(plural: str):  # noqa: ANN202
    from loomwork.kinds import ARTIFACT_KINDS

    for kind in ARTIFACT_KINDS:
        if kind.plural == plural:
            return kind
    console.print(f"[red]Unknown kind {plural!r}; choose one of {', '.join(k.plural for k in ARTIFACT_KINDS)}.[/red]")
    raise typer.Exit(2)


def _progress():  # noqa: ANN202
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console)


def _acting_in(kind: str, group: str, database_url: str | None):  # noqa: ANN202
    """The kind, a migrated database, and the CLI's principal: an admin profile `cli` in the group."""
    artifact_kind = _kind(kind)
    _settings, db = _migrated(database_url)
    with db.transaction(write=True) as session:
        group_row = identity.ensure_group(session, group)
        profile = identity.ensure_profile(session, group_row, "cli", "admin")
        principal = identity.Principal(profile.id, group_row.id, profile.name, profile.role)
    return artifact_kind, db, principal


GroupOption = Annotated[str, typer.Option("--group", help="The group to act in.")]


@app.command("seed-demo")
def seed_demo(
    personas: Annotated[int, typer.Option("--personas", min=0, help="How many personas to generate.")] = 1000,
    tools: Annotated[int, typer.Option("--tools", min=0, help="How many tools to generate.")] = 0,
    evals: Annotated[int, typer.Option("--evals", min=0, help="How many evals to generate.")] = 0,
    invocations: Annotated[int, typer.Option("--invocations", min=0, help="How many invocations to generate.")] = 0,
    group: GroupOption = "default",
    database_url: DatabaseUrl = None,
) -> None:
    """Fill the database with a deterministic demo data set (the same every time)."""
    from loomwork.demo import DemoSeeder

    _settings, db = _migrated(database_url)
    seeder = DemoSeeder(db, group)
    counts = {"personas": personas, "tools": tools, "evals": evals, "invocations": invocations}
    with _progress() as progress:
        for plural, count in counts.items():
            if count:
                task = progress.add_task(f"Seeding {plural}", total=count)
                seeder.seed(_kind(plural), count, lambda n, task=task: progress.advance(task, n))
    db.dispose()
    done = ", ".join(f"{count:,} {plural}" for plural, count in counts.items() if count) or "nothing"
    console.print(f"[green]Seeded {done} into group {group!r}.[/green]")


@app.command("export")
def export_command(
    kind: Annotated[str, typer.Argument(help="personas, tools, evals or invocations")],
    out: Annotated[typer.FileBinaryWrite, typer.Option("--out", help="Where to write the CSV.")],
    group: GroupOption = "default",
    database_url: DatabaseUrl = None,
) -> None:
    """Export every artifact of a kind to a CSV file."""
    from loomwork.engine import search, transfer

    artifact_kind, db, principal = _acting_in(kind, group, database_url)
    with db.transaction(write=False) as session, _progress() as progress:
        ids = list(session.scalars(search.matching_ids_query(artifact_kind, principal, {}, db.dialect)))
        task = progress.add_task(f"Exporting {kind}", total=len(ids))
        data, count = transfer.write_csv(transfer.export_rows(session, artifact_kind, principal.group_id, ids),
                                         lambda: progress.advance(task))
    out.write(data)
    db.dispose()
    console.print(f"[green]Exported {count:,} {kind} to {out.name}.[/green]")


@app.command("import")
def import_command(
    kind: Annotated[str, typer.Argument(help="personas, tools, evals or invocations")],
    file: Annotated[typer.FileBinaryRead, typer.Argument(help="A CSV in the export's format.")],
    group: GroupOption = "default",
    database_url: DatabaseUrl = None,
) -> None:
    """Import a CSV: each row creates or updates one artifact; a failing row changes nothing."""
    from loomwork.engine import transfer

    artifact_kind, db, principal = _acting_in(kind, group, database_url)
    try:
        rows = transfer.read_csv(artifact_kind, file.read())
    except LoomworkError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(2) from None
    with _progress() as progress:
        task = progress.add_task(f"Importing {kind}", total=len(rows))
        with db.transaction(write=True) as session:
            result = transfer.import_rows(session, artifact_kind, principal, rows, lambda: progress.advance(task))
    db.dispose()
    for failure in (r for r in result["results"] if not r["success"]):
        console.print(f"[red]line {failure['line']}: {failure['message']}[/red]")
    console.print(f"Created {result['created']:,}, updated {result['updated']:,}, failed {result['failed']:,}.")
    if result["failed"]:
        raise typer.Exit(1)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
