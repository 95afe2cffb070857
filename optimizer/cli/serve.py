"""``staffplan serve`` (the planner's web app) and ``staffplan users`` (who may sign in)."""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
from pathlib import Path

import rich_click as click

from optimizer.cli.common import EXIT_BAD_INPUT, bad_input_exits
from optimizer.cli.runs import store_option
from optimizer.i18n import t

#: Default port of ``staffplan serve``.
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def should_open_browser(no_browser: bool) -> bool:
    """Open a browser unless told not to, in CI, or without a display (Linux/BSD)."""
    if no_browser or os.environ.get("CI"):
        return False
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def app_url(host: str, port: int) -> str:
    """The address a browser opens (``[…]`` around IPv6 addresses)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder of uploads and of the run store (staffplan.db).",
)
@store_option
@click.option("--jobs", type=int, default=None, help="Solves run at once (default: one per two cores).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@bad_input_exits
def serve(
    host: str, port: int, workspace: Path, store_path: Path | None, jobs: int | None, no_browser: bool
) -> None:
    """Start the planner's web app and open it in the browser.

    It listens on 127.0.0.1 (this computer only) by default.  Another address is refused
    until users exist (`staffplan users add NAME --role planner`); with users, everyone
    signs in.  The app uses the same run store as the command line.  Ctrl-C stops it:
    running solves keep their best placement, stored as not proven.
    """
    import uvicorn

    from optimizer.store import RunStore
    from optimizer.web.app import create_app, store_path_for
    from optimizer.web.auth import users_exist

    store = RunStore(store_path_for(workspace.resolve(), store_path))
    if not is_loopback(host) and not users_exist(store):
        click.echo(t("server.host_needs_users", host=host), err=True)
        sys.exit(EXIT_BAD_INPUT)
    app = create_app(workspace, store=store.path, max_parallel=jobs)
    url = app_url(host, port)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    click.echo(t("server.listening", url=url, store=str(store.path)), err=True)
    if should_open_browser(no_browser):
        import webbrowser

        def open_when_up() -> None:
            while not server.started and not server.should_exit:
                threading.Event().wait(0.1)
            if server.started:
                webbrowser.open(url)

        threading.Thread(target=open_when_up, daemon=True).start()
    server.run()


@click.group("users")
def users() -> None:
    """Who may sign in to the web app (kept in the run store, passwords as argon2 hashes)."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["planner", "viewer"]), required=True, help="planner or viewer.")
@click.option("--see-names", is_flag=True, help="A viewer may see names and birth dates.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@store_option
@bad_input_exits
def users_add(name: str, role: str, see_names: bool, password_stdin: bool, store_path: Path | None) -> None:
    """Add user NAME with a role; asks for the password (twice) unless --password-stdin."""
    from optimizer.store import RunStore
    from optimizer.web.auth import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(t("server.password_prompt"), hide_input=True, confirmation_prompt=True)
    user = add_user(RunStore(store_path), name, role, password, see_names=see_names)  # type: ignore[arg-type]
    click.echo(t("server.user_added", name=user.name, role=user.role))


@users.command("list")
@store_option
@bad_input_exits
def users_list(store_path: Path | None) -> None:
    """List the users, their role and whether they see names."""
    from optimizer.store import RunStore
    from optimizer.web.auth import list_users

    for user in list_users(RunStore(store_path)):
        names = t("server.sees_names") if user.see_names else t("server.names_redacted")
        click.echo(f"{user.name}\t{user.role}\t{names}")


@users.command("remove")
@click.argument("name")
@store_option
@bad_input_exits
def users_remove(name: str, store_path: Path | None) -> None:
    """Remove user NAME (their sessions end at once)."""
    from optimizer.store import RunStore
    from optimizer.web.auth import remove_user

    remove_user(RunStore(store_path), name)
    click.echo(t("server.user_removed", name=name))


@users.command("grant")
@click.argument("name")
@click.option("--revoke", is_flag=True, help="Take the right back.")
@store_option
@bad_input_exits
def users_grant(name: str, revoke: bool, store_path: Path | None) -> None:
    """Let viewer NAME see names and birth dates (or, with --revoke, no longer)."""
    from optimizer.store import RunStore
    from optimizer.web.auth import grant_names

    grant_names(RunStore(store_path), name, not revoke)
    click.echo(t("server.user_revoked" if revoke else "server.user_granted", name=name))


@users.command("audit")
@click.option("--limit", type=int, default=50, show_default=True, help="How many rows, newest first.")
@store_option
@bad_input_exits
def users_audit(limit: int, store_path: Path | None) -> None:
    """Show the web app's audit log: every sign-in, upload, run, cancel, edit check and export."""
    import json

    from optimizer.store import RunStore
    from optimizer.web.auth import audit_log

    for entry in audit_log(RunStore(store_path), limit):
        detail = json.dumps(entry.detail, ensure_ascii=False) if entry.detail else ""
        click.echo("\t".join((entry.at, entry.user, entry.action, entry.target, detail)).rstrip())


COMMANDS: list[click.Command] = [serve, users]
