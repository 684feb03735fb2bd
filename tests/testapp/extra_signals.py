"""An AsyncSignal in a module that is no app's ``signals`` module: found only when a
test lists it in ``FLOORKIT["SIGNAL_MODULES"]``."""

from floorkit import AsyncSignal

listed = AsyncSignal()
