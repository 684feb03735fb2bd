"""
Entry point that monkey-patches with gevent before anything else, then runs
the original ``manage.py`` command line.

``runwebsocket`` re-executes itself as ``python -m floorkit.websocket.run
manage.py runwebsocket ...`` when it finds the process unpatched: patching
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
    sys.argv = sys.argv[1:]
    # As if the script had been run directly: its folder first on the path.
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
