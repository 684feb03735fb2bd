import json

from django.core.management.base import BaseCommand

from floorkit.signals.introspection import (
    describe_async_signals,
    describe_groups,
    describe_signals,
)


def _flags(entry: dict) -> str:
    flags = []
    if entry.get("delayed"):
        flags.append(f"delayed (queue {entry['queue']})")
    else:
        flags.append("inline")
    if entry.get("is_async"):
        flags.append("async def")
    flags.append("browser-callable" if entry["allow_from_client"] else "python-only")
    flags.append("login required" if entry["auth_required"] else "anonymous allowed")
    return ", ".join(flags)


class Command(BaseCommand):
    help = (
        "List the registered signals, their handlers and options, then the AsyncSignals "
        'with their receivers and queue (JSON entries with "async": true), then the '
        "groups browsers may join (--groups: only those)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON.")
        parser.add_argument(
            "--groups",
            action="store_true",
            help="Only the group patterns browsers may join, with their authorizers.",
        )
        parser.add_argument(
            "--stats",
            action="store_true",
            help="Calls, errors and p50/p99 duration by hop, per signal, over the retained trace events.",
        )

    def handle(self, *args, **options):
        if options["stats"]:
            self.show_stats(options["json"])
            return
        if options["groups"]:
            self.show_groups(options["json"])
            return
        signals = describe_signals()
        async_signals = describe_async_signals()
        if options["json"]:
            self.stdout.write(json.dumps(signals + async_signals, indent=2))
            return
        if not signals and not async_signals:
            self.stdout.write("No signals registered.")
            return
        for entry in signals:
            self.stdout.write(self.style.MIGRATE_HEADING(entry["signal"]))
            if not entry["handlers"]:
                access = "browsers may send it" if entry["allow_from_client"] else "python-only"
                self.stdout.write(f"  (JS handlers only; {access})")
            for handler in entry["handlers"]:
                self.stdout.write(f"  {handler['handler']}  [{_flags(handler)}]")
        if async_signals:
            self.stdout.write(
                self.style.MIGRATE_LABEL("AsyncSignals (receivers run on RQ workers):")
            )
        for entry in async_signals:
            self.stdout.write(self.style.MIGRATE_HEADING(entry["signal"]))
            self.stdout.write(
                f"  queue {entry['queue']}, retry {entry['retry']}, "
                f"{'on commit' if entry['on_commit'] else 'immediately'}, "
                f"missing instance: {entry['on_missing']}"
            )
            if not entry["receivers"]:
                self.stdout.write("  (no receivers)")
            for receiver in entry["receivers"]:
                sender = receiver["sender"] or "any sender"
                flags = [f"sender {sender}"] if receiver["sender"] else [sender]
                if receiver["dispatch_uid"]:
                    flags.append(f"dispatch_uid {receiver['dispatch_uid']}")
                if receiver["is_async"]:
                    flags.append("async def")
                self.stdout.write(f"  {receiver['receiver']}  [{', '.join(flags)}]")
        self.show_groups(False, heading=True)

    def show_groups(self, as_json: bool, heading: bool = False) -> None:
        groups = describe_groups()
        if as_json:
            self.stdout.write(json.dumps(groups, indent=2))
            return
        if heading and groups:
            self.stdout.write(
                self.style.MIGRATE_LABEL("Groups browsers may join (first match decides):")
            )
        elif not groups:
            self.stdout.write("No group authorizers: browsers may join no group.")
        for entry in groups:
            login = "login required" if entry["auth_required"] else "anonymous allowed"
            self.stdout.write(f"  group:{entry['pattern']}  {entry['authorizer']}  [{login}]")

    def show_stats(self, as_json: bool) -> None:
        from floorkit.tracing import reader, recorder

        table = reader.stats(recorder.read())
        if as_json:
            self.stdout.write(json.dumps(table, indent=2))
            return
        if not table:
            self.stdout.write("No trace events retained (is FLOORKIT['TRACE'] on?).")
            return
        self.stdout.write(f"{'signal':40} {'calls':>6} {'errors':>6}  hop: count p50/p99 ms")
        for signal, row in table.items():
            hops = "  ".join(
                f"{kind}: {h['count']} {h['p50_ms']:.1f}/{h['p99_ms']:.1f}"
                for kind, h in sorted(row["hops"].items())
            )
            self.stdout.write(f"{signal:40} {row['calls']:>6} {row['errors']:>6}  {hops}")
