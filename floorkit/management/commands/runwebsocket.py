"""
``manage.py runwebsocket [ADDR:PORT] [--http] [--noreload]``: serve browser sessions.

Like ``runserver``, it restarts on code changes with Django's autoreloader
when ``DEBUG`` is on (``--reload``/``--noreload`` override that); with
``--http`` it logs one line per HTTP request to stderr (verbosity 1 and up).
A port already in use is a ``CommandError``.

The process is monkey-patched by gevent first (``floorkit.websocket.run``):
when it is not, the command re-executes itself through that entry point.
"""

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


def _reexec_argv() -> list[str]:
    """
    The command line that runs this process again through
    ``floorkit.websocket.run``, launched the way it was: ``-m MODULE`` for
    ``python -m django``, else the script (``manage.py``, ``django-admin``)
    by absolute path, so that a changed working directory cannot matter.
    """
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None:  # python -m django ...: run the module again, never its file
        module = spec.name.removesuffix(".__main__")
        return [sys.executable, "-m", "floorkit.websocket.run", "-m", module, *sys.argv[1:]]
    script = os.path.abspath(sys.argv[0])
    return [sys.executable, "-m", "floorkit.websocket.run", script, *sys.argv[1:]]


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

    def handle(self, *args, **options):
        if not _patched():
            os.execv(sys.executable, _reexec_argv())
        host, port = self.parse_addrport(options["addrport"])
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

    def serve(self, *, host: str, port: int, **options) -> None:
        """Bind ``host:port`` (``CommandError`` when taken) and serve until stopped."""
        from floorkit.tracing import recorder

        recorder.set_role("websocket")
        from floorkit.websocket.server import WebSocketServer

        http_app = None
        if options["http"]:
            from django.conf import settings
            from django.core.wsgi import get_wsgi_application

            http_app = get_wsgi_application()
            if settings.DEBUG and "django.contrib.staticfiles" in settings.INSTALLED_APPS:
                from django.contrib.staticfiles.handlers import StaticFilesHandler

                http_app = StaticFilesHandler(http_app)
        log = sys.stderr if http_app is not None and options.get("verbosity", 1) >= 1 else None
        server = WebSocketServer((host, port), http_app=http_app, log=log)
        try:
            server.init_socket()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            message = f"cannot listen on {host}:{port}: {reason}"
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
        server.serve()
        self.stdout.write("stopped")

    @staticmethod
    def parse_addrport(value: str) -> tuple[str, int]:
        host, _, port = value.rpartition(":")
        try:
            return host or "127.0.0.1", int(port)
        except ValueError:
            raise CommandError(f"{value!r} is not ADDR:PORT or PORT") from None
