import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from floorkit.exceptions import FloorkitError
from floorkit.signals import targets
from floorkit.signals.dispatch import call
from floorkit.signals.request import SignalRequest


class Command(BaseCommand):
    help = "Fire a signal: run its Python handlers and send it to browsers."

    def add_arguments(self, parser):
        parser.add_argument("signal", help="The signal name, e.g. demo.chat.show.")
        parser.add_argument(
            "--to",
            action="append",
            default=[],
            metavar="TARGET",
            help="broadcast, session:ID, user:NAME, window:ID or group:NAME (repeatable).",
        )
        parser.add_argument("--user", help="Act as this username (default: anonymous).")
        parser.add_argument("--kwargs", default="{}", help="Keyword arguments as a JSON object.")

    def handle(self, *args, **options):
        from floorkit.tracing import recorder

        recorder.set_role("shell")
        try:
            kwargs = json.loads(options["kwargs"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--kwargs is not valid JSON: {exc}") from None
        if not isinstance(kwargs, dict):
            raise CommandError("--kwargs must be a JSON object")
        user = None
        if options["user"]:
            User = get_user_model()
            try:
                user = User._default_manager.get_by_natural_key(options["user"])
            except User.DoesNotExist:
                raise CommandError(f"no user {options['user']!r}") from None
        try:
            to = [targets.parse(spec) for spec in options["to"]] or None
            request = SignalRequest.for_user(user)
            result = call(options["signal"], request, to, **kwargs)
        except FloorkitError as exc:
            raise CommandError(str(exc)) from None
        except Exception as exc:
            raise CommandError(f"{options['signal']} failed: {type(exc).__name__}: {exc}") from None
        self.stdout.write(f"{result.signal} (trace {result.trace_id})")
        for outcome in result.outcomes:
            if outcome.delayed:
                self.stdout.write(f"  enqueued {outcome.handler}  job {outcome.job_id}")
            else:
                value = json.dumps(outcome.result, default=repr)
                self.stdout.write(f"  ran      {outcome.handler}  -> {value}")
        for address in result.addresses:
            self.stdout.write(f"  sent to  {address}  (message {result.message_id})")
        if not result.outcomes and not result.addresses:
            self.stdout.write("  nothing ran and nothing was sent (no handler, no --to)")
