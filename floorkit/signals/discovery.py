"""
Finding the signals of a project: every installed app's ``signals`` module
or package, plus ``FLOORKIT["SIGNAL_MODULES"]``, imported once at start-up by
``FloorkitConfig.ready()``. The module-level ``AsyncSignal`` instances of
those modules are named ``<module>.<attribute>`` there
(``floorkit.async_signals.names.collect``).
"""

from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.utils.module_loading import module_has_submodule

from floorkit import conf


def autodiscover() -> list[str]:
    """
    Import the signal modules; return their dotted names.

    An app without a ``signals`` module is skipped; an error raised while
    importing one that exists (an ImportError inside it included) propagates.
    """
    from floorkit.async_signals.names import collect

    imported = []
    for app_config in apps.get_app_configs():
        if module_has_submodule(app_config.module, "signals"):
            name = f"{app_config.name}.signals"
            collect(import_module(name))
            imported.append(name)
    for name in conf.get("SIGNAL_MODULES"):
        collect(import_module(name))
        imported.append(name)
    return imported
