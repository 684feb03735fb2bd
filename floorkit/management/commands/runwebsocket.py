"""
``manage.py runwebsocket [ADDR:PORT] [--http] [--noreload] [--processes N]``: serve browser sessions.

Like ``runserver``, it restarts on code changes with Django's autoreloader
when ``DEBUG`` is on (``--reload``/``--noreload`` override that); with
``--http`` it logs one line per HTTP request to stderr (verbosity 1 and up).
A port already in use is a ``CommandError``. ``--processes N`` runs N server
processes on the port (``0``: one per core) under a supervisor
(``floorkit.websocket.supervisor``); it implies ``--noreload``.

The process is monkey-patched by gevent first (``floorkit.websocket.run``):
when it is not, the command re-executes itself through that entry point.
"""

import argparse
import os
import sys

from django.core.management.base import BaseCommand, CommandError

DEFAULT_ADDR = "127.0.0.1:8001"


def _patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("socket")


def _reexec_argv(arguments: list[str] | None = None) -> list[str]:
    """
    The command line that runs this process again through
    ``floorkit.websocket.run``, launched the way it was: ``-m MODULE`` for
    ``python -m django``, else the script (``manage.py``, ``django-admin``)
    by absolute path, so that a changed working directory cannot matter.
    ``arguments`` replaces the command line's arguments.
    """
    arguments = sys.argv[1:] if arguments is None else arguments
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None:  # python -m django ...: run the module again, never its file
        module = spec.name.removesuffix(".__main__")
        return [sys.executable, "-m", "floorkit.websocket.run", "-m", module, *arguments]
    script = os.path.abspath(sys.argv[0])
    return [sys.executable, "-m", "floorkit.websocket.run", script, *arguments]


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    """The one-line error for a port that cannot be bound."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return f"cannot listen on {host}:{port}: {reason}"


def _server_process_argv() -> list[str]:
    """This command line as one server process of a supervisor: the same
    options, without the reloader, on a shared port."""
    arguments, skip = [], False
    for argument in sys.argv[1:]:
        if skip:
            skip = False
        elif argument == "--processes":
            skip = True
        elif not argument.startswith("--processes="):
            arguments.append(argument)
    # last wins: also over abbreviations argparse accepted (--proc 2)
    return _reexec_argv([*arguments, "--noreload", "--reuse-port", "--processes", "1"])


class Command(BaseCommand):
    help = "Serve floorkit's websocket endpoint (and the site with --http) with gevent."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default=DEFAULT_ADDR, help="ADDR:PORT or PORT")
        parser.add_argument("--http", action="store_true", help="Also serve the whole Django site.")
        parser.add_argument(
            "--reload",
            dest="use_reloader",
            action="store_true",
            default=None,
            help="Restart on code changes (default when DEBUG is on).",
        )
        parser.add_argument(
            "--noreload",
            dest="use_reloader",
            action="store_false",
            help="Do not restart on code changes.",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            metavar="N",
            help="Run N server processes on the port (0: one per core); SIGHUP restarts them "
            "one at a time, SIGTERM stops them.",
        )
        parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        if not _patched():
            os.execv(sys.executable, _reexec_argv())
        host, port = self.parse_addrport(options["addrport"])
        processes = options["processes"]
        if processes < 0:
            raise CommandError(f"--processes {processes}: give a count, or 0 for one per core")
        if processes == 0:
            processes = os.cpu_count() or 1
        if processes > 1:
            if options["use_reloader"]:
                raise CommandError("--reload restarts one process: use --processes 1 with it")
            return self.supervise(host, port, processes)
        use_reloader = options["use_reloader"]
        if use_reloader is None:
            from django.conf import settings

            use_reloader = settings.DEBUG
        if use_reloader:
            from django.utils import autoreload

            # The reloader's child re-runs sys.argv with the same interpreter
            # options: run.py's patched entry point comes back with it.
            autoreload.run_with_reloader(self.serve, host=host, port=port, **options)
        else:
            self.serve(host=host, port=port, **options)

    def supervise(self, host: str, port: int, processes: int) -> None:
        """Run ``processes`` server processes on ``host:port`` until stopped."""
        from floorkit.websocket.supervisor import Supervisor, reuse_port_socket

        try:  # held, never listening, while the supervisor runs
            probe = reuse_port_socket(host, port, listen=False)
        except OSError as exc:
            raise CommandError(_cannot_listen(host, port, exc)) from None
        try:
            status = Supervisor(_server_process_argv(), processes, out=self.stdout).run()
        finally:
            probe.close()
        if status:
            raise CommandError("the server processes did not start (their output is above)")
        self.stdout.write("stopped")

    def serve(self, *, host: str, port: int, **options) -> None:
        """Bind ``host:port`` (``CommandError`` when taken) and serve until stopped."""
        from floorkit.tracing import recorder

        recorder.set_role("websocket")
        from floorkit.websocket.server import WebSocketServer
        from floorkit.websocket.supervisor import signal_ready

        http_app = None
        if options["http"]:
            from django.conf import settings
            from django.core.wsgi import get_wsgi_application

            http_app = get_wsgi_application()
            if settings.DEBUG and "django.contrib.staticfiles" in settings.INSTALLED_APPS:
                from django.contrib.staticfiles.handlers import StaticFilesHandler

                http_app = StaticFilesHandler(http_app)
        log = sys.stderr if http_app is not None and options.get("verbosity", 1) >= 1 else None
        try:
            if options.get("reuse_port"):
                from floorkit.websocket.supervisor import reuse_port_socket

                listener = reuse_port_socket(host, port, listen=True)
            else:
                listener = (host, port)
            server = WebSocketServer(listener, http_app=http_app, log=log)
            server.init_socket()
        except OSError as exc:
            message = _cannot_listen(host, port, exc)
            if os.environ.get("RUN_MAIN") == "true":  # the autoreloader's child
                self.stderr.write(f"CommandError: {message}")
                os._exit(1)  # as runserver does: the reloader then exits with 1
            raise CommandError(message) from None
        site = f" and the site at http://{host}:{port}/" if http_app else ""
        self.stdout.write(
            f"floorkit websocket on ws://{host}:{port}{server.websocket_path}{site} "
            f"(pid {os.getpid()}); Ctrl-C to stop"
        )
        self.stdout.flush()
        server.serve(on_listening=signal_ready)
        self.stdout.write("stopped")

    @staticmethod
    def parse_addrport(value: str) -> tuple[str, int]:
        host, _, port = value.rpartition(":")
        try:
            return host or "127.0.0.1", int(port)
        except ValueError:
            raise CommandError(f"{value!r} is not ADDR:PORT or PORT") from None
