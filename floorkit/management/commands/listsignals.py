import json

from django.core.management.base import BaseCommand

from floorkit.introspection import describe_signals


def _flags(entry: dict) -> str:
    flags = []
    if entry.get("delayed"):
        flags.append(f"delayed (queue {entry['queue']})")
    else:
        flags.append("inline")
    flags.append("browser-callable" if entry["allow_from_client"] else "python-only")
    flags.append("login required" if entry["auth_required"] else "anonymous allowed")
    return ", ".join(flags)


class Command(BaseCommand):
    help = "List the registered signals, their handlers and options."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options):
        signals = describe_signals()
        if options["json"]:
            self.stdout.write(json.dumps(signals, indent=2))
            return
        if not signals:
            self.stdout.write("No signals registered.")
            return
        for entry in signals:
            self.stdout.write(self.style.MIGRATE_HEADING(entry["signal"]))
            if not entry["handlers"]:
                access = "browsers may send it" if entry["allow_from_client"] else "python-only"
                self.stdout.write(f"  (JS handlers only; {access})")
            for handler in entry["handlers"]:
                self.stdout.write(f"  {handler['handler']}  [{_flags(handler)}]")
