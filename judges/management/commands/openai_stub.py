"""Serve the local OpenAI-compatible stub (judges.stub) until interrupted."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from judges import stub


class Command(BaseCommand):
    help = "Run a local OpenAI-compatible judge stub with planted biases and injectable faults."

    def add_arguments(self, parser: ArgumentParser) -> None:
        stub.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        server = stub.StubHTTPServer((options["host"], options["port"]), stub.config_from(options))
        url = f"http://{server.server_name_ip}:{server.server_port}/v1"
        self.stdout.write(f"OpenAI stub on {url} (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.state.stopping.set()
            server.server_close()
