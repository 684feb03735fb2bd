"""
floorkit as a user installs it: ``python -m build`` gives a clean wheel and
sdist, the wheel installs into a fresh virtualenv, and the guide's quick start,
followed step by step on a fresh ``django-admin startproject`` site, gives a
site whose checks pass, whose page loads floorkit and whose websocket answers.
"""

import os
import re
import signal
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from floorkit.testing import Tab, free_port
from tests.conftest import ROOT

GUIDE = (ROOT / "docs/guide.md").read_text()


def sh(*args, cwd=None, env=None, timeout=180) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtualenv holding the wheel built from this tree."""
    root = tmp_path_factory.mktemp("pkg")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    sh(sys.executable, "-m", "venv", root / "venv")
    python = root / "venv/bin/python"
    sh(python, "-m", "pip", "install", "-q", "build", env=env)
    built = sh(python, "-m", "build", "--outdir", root / "dist", ROOT, env=env)
    (wheel,) = (root / "dist").glob("*.whl")
    (sdist,) = (root / "dist").glob("*.tar.gz")
    sh(python, "-m", "pip", "install", "-q", "--no-deps", wheel, env=env)
    # Dependencies from the shared venv: a plain path line (its .pth files are not run).
    site = sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    Path(site.stdout.strip(), "shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for leftover in ("build", "floorkit.egg-info"):
        subprocess.run(["rm", "-rf", str(ROOT / leftover)])
    return {
        "root": root,
        "python": python,
        "wheel": wheel,
        "sdist": sdist,
        "log": built,
        "env": env,
    }


def test_build_is_clean_and_ships_license_types_and_docs(venv):
    log = venv["log"].stdout + venv["log"].stderr
    assert not re.search(r"(?i)warning|deprecat", log), log
    names = zipfile.ZipFile(venv["wheel"]).namelist()
    assert "floorkit/py.typed" in names and "floorkit/static/floorkit/floorkit.js" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(venv["wheel"]).read("floorkit-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: BSD-3-Clause" in metadata and "Project-URL: Source" in metadata
    members = tarfile.open(venv["sdist"]).getnames()
    assert "floorkit-0.1.0/LICENSE" in members and "floorkit-0.1.0/docs/guide.md" in members


def test_readme_links_work_outside_the_repository():
    links = re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    assert links
    for link in links:
        assert link.startswith("https://github.com/floorkit/floorkit/blob/main/"), link
        assert (ROOT / link.split("/blob/main/", 1)[1]).exists(), link


def quick_start_blocks() -> dict[str, str]:
    section = GUIDE.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    python = [code for lang, code in blocks if lang == "python"]
    return {
        "pip": next(code for lang, code in blocks if lang == "sh"),
        "settings": next(c for c in python if "INSTALLED_APPS" in c),
        "urls": next(c for c in python if "urlpatterns" in c),
        "signals": next(c for c in python if "@connect" in c),
        "html": next(code for lang, code in blocks if lang == "html"),
        "processes": section,
    }


def test_quick_start_on_a_fresh_startproject_site(venv, redis_server, tmp_path):
    steps = quick_start_blocks()
    assert steps["pip"].split("#")[0].split() == ["pip", "install", "floorkit"]  # done: venv
    python, env = venv["python"], {**venv["env"], "PYTHONUNBUFFERED": "1"}
    sh(python, "-m", "django", "startproject", "site1", tmp_path, env=env)  # django-admin
    project = tmp_path / "site1"
    settings = project / "settings.py"
    settings.write_text(
        settings.read_text()
        + "\n"
        + steps["settings"].replace("redis://127.0.0.1:6379/0", redis_server.url)
        + '\nTEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]\n'
    )
    urls = project / "urls.py"
    page = 'path("", __import__("django.views.generic").views.generic.TemplateView.as_view(template_name="page.html")),'
    urls.write_text(
        urls.read_text() + "\n" + steps["urls"].replace("# ...", f"*urlpatterns, {page}")
    )
    # The project's own app and page (the guide starts from an existing project).
    sh(python, "manage.py", "startapp", "chat", cwd=tmp_path, env=env)
    (tmp_path / "chat/signals.py").write_text(steps["signals"])
    settings.write_text(settings.read_text() + 'INSTALLED_APPS += ["chat"]\n')
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/page.html").write_text(steps["html"])

    def manage(*args):
        return sh(python, "manage.py", *args, cwd=tmp_path, env=env)

    manage("migrate", "-v", "0")
    checked = manage("check")
    assert "System check identified no issues" in checked.stdout, checked.stdout + checked.stderr
    assert "demo.chat.message" in manage("listsignals").stdout
    where = sh(python, "-c", "import floorkit; print(floorkit.__file__)", cwd=tmp_path, env=env)
    assert where.stdout.startswith(str(venv["root"] / "venv")), where.stdout  # the wheel's
    assert "python manage.py rqworker default" in steps["processes"]
    manage("rqworker", "--burst", "default")

    port = free_port()
    assert "python manage.py runwebsocket 127.0.0.1:8001" in steps["processes"]
    server = subprocess.Popen(
        [str(python), "manage.py", "runwebsocket", f"127.0.0.1:{port}", "--http"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.communicate()[1].decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                    html = response.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "runwebsocket did not serve"
                time.sleep(0.1)
        assert "floorkit.js" in html and "floorkit.connect(" in html
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/floorkit/floorkit.js") as js:
            assert b"floorkit" in js.read()
        tab = Tab(f"ws://127.0.0.1:{port}/ws/floorkit/")
        answer = tab.call("demo.chat.message", text="hi")  # as the page's script does
        assert answer["type"] == "result", answer
        shown = tab.wait_for(lambda f: f.get("signal") == "demo.chat.show")
        assert shown["kwargs"] == {"text": "hi"}, shown
        tab.close()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.communicate(timeout=20)
