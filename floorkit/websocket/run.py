"""
Entry point that monkey-patches with gevent before anything else, then runs
the original ``manage.py`` command line.

``runwebsocket`` re-executes itself as ``python -m floorkit.websocket.run
/abs/path/manage.py runwebsocket ...`` (any script: ``manage.py``,
``django-admin``) or ``python -m floorkit.websocket.run -m django runwebsocket
...`` when it finds the process unpatched: patching
must happen before Django, redis-py (which imports ``ssl``) and the database
driver are imported, or gevent warns and blocking calls would stall every
socket. Nothing in this module (nor in ``floorkit/__init__.py``) imports them.
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import runpy  # noqa: E402
import sys  # noqa: E402


def main() -> None:
    try:  # PostgreSQL's psycopg2 needs its own gevent wait callback
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()
    except ImportError:
        pass
    if len(sys.argv) > 2 and sys.argv[1] == "-m":
        # As ``python -m MODULE``: the working directory stays first on the path
        # (as for this module), and the module's folder is never put there.
        module = sys.argv[2]
        sys.argv = [module, *sys.argv[3:]]  # run_module sets argv[0] to the module's file
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    sys.argv = sys.argv[1:]
    # As if the script had been run directly: its folder first on the path.
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
