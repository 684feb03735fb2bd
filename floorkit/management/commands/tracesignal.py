import sys
import time

from django.core.management.base import BaseCommand, CommandError

from floorkit.exceptions import RedisUnavailable
from floorkit.tracing import reader, recorder


class Command(BaseCommand):
    help = (
        "Follow signals live across browser, web processes, websocket servers and workers, "
        "each call drawn as a tree of its hops."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "patterns", nargs="*", help="Glob patterns of signal names (all by default)."
        )
        parser.add_argument(
            "--last", type=int, metavar="N", help="Show the N most recent finished traces."
        )
        parser.add_argument("--trace", metavar="ID", help="Show one trace.")
        parser.add_argument("--json", action="store_true", help="One JSON event per line.")
        parser.add_argument("--errors", action="store_true", help="Only traces with a failure.")
        parser.add_argument(
            "--settle",
            type=float,
            default=0.5,
            help="Live mode: seconds of quiet before a trace is drawn (default 0.5).",
        )

    def handle(self, *args, **options):
        recorder.set_role("shell")
        try:
            if options["last"] is not None or options["trace"]:
                self.show_retained(options)
            else:
                self.follow(options)
        except KeyboardInterrupt:
            return
        except RedisUnavailable as exc:
            raise CommandError(str(exc)) from None

    def print_trace(self, trace_events, options):
        if options["json"]:
            for event in trace_events:
                self.stdout.write(reader.to_json(event))
        else:
            colour = sys.stdout.isatty() and not options.get("no_color")
            self.stdout.write("\n".join(reader.tree(trace_events, colour)) + "\n")
        self.stdout.flush()

    def show_retained(self, options):
        traces = reader.select(
            recorder.read(),
            options["patterns"],
            trace=options["trace"],
            errors=options["errors"],
            last=options["last"],
        )
        if not traces and options["trace"]:
            raise CommandError(f"no trace {options['trace']!r} among the retained events")
        for trace_events in traces.values():
            self.print_trace(trace_events, options)

    def follow(self, options):
        if not options["json"]:
            self.stdout.write(
                f"following {' '.join(options['patterns']) or 'all signals'} (Ctrl-C to stop)"
            )
            self.stdout.flush()
        pending: dict[str, list] = {}
        quiet_since: dict[str, float] = {}
        matched: set[str] = set()
        shown: set[str] = set()
        for events in reader.follow():
            now = time.monotonic()
            for event in events:
                if reader.matches([event], options["patterns"]):
                    matched.add(event["trace"])
                if options["json"]:
                    if event["trace"] in matched and (
                        not options["errors"] or event.get("outcome") in reader.FAILED
                    ):
                        self.stdout.write(reader.to_json(event))
                else:
                    pending.setdefault(event["trace"], []).append(event)
                    quiet_since[event["trace"]] = now
            self.stdout.flush()
            for trace_id in [
                t for t, since in quiet_since.items() if now - since >= options["settle"]
            ]:
                trace_events = pending.pop(trace_id)
                del quiet_since[trace_id]
                if trace_id in matched and (not options["errors"] or reader.failed(trace_events)):
                    if trace_id in shown:
                        self.stdout.write("(continued)")
                    shown.add(trace_id)
                    self.print_trace(trace_events, options)
