"""Serve the web app and a Celery worker from one command (the embedded default)."""

import os
import signal
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Run the web app and one Celery worker together. With no CELERY_BROKER_URL the worker uses "
        "the filesystem broker under var/broker, so no server is needed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-worker", action="store_true", help="Serve the web app only.")
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes.")

    def handle(self, *args: Any, **options: Any) -> None:
        for folder in ("queue", "processed", "control"):
            (settings.BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
        worker = None
        if not options["no_worker"]:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "concord",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    str(options["concurrency"]),
                ],
                env=os.environ.copy(),
            )
            self.stdout.write(f"Celery worker started (pid {worker.pid}).")
        self.stdout.write(f"Concord is at http://{options['addrport']}/ (Ctrl-C stops it).")
        # A SIGTERM (a process manager, `kill`) must stop the worker too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
