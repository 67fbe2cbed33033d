"""The command line: ``tools/verify ledger DIR [--json]``, ``tools/verify proof FILE [--key KEY] [--json]``,
``tools/verify bundle FILE [--key KEY] [--ledger DIR] [--json]`` and
``tools/verify cluster-proof FILE [--root-key KEY] [--shard-key KEY ...] [--json]``.

Exit status (the same table as call-ledger's, README "Exit codes"): 0 when everything checks, 1 at the first
fault (printed with its file, byte offset, seq and what differs) or when an input file cannot be read, 64 on a
usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .bundle import BundleVerifier, check_against_log
from .cluster import ClusterProofVerifier
from .errors import Fault
from .ledger import LedgerVerifier
from .proofs import ProofVerifier
from .redaction import RedactionVerifier


USAGE_ERROR = 64


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's exit status for a usage error (64, EX_USAGE) instead of argparse's 2."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The parsed command line (exits with status 64 on a usage error)."""
    parser = ArgumentParser(
        prog="tools/verify", description="Verify a CallLedger ledger directory or proof without any Swift code.")
    commands = parser.add_subparsers(dest="command", required=True)
    ledger = commands.add_parser("ledger", help="verify every segment, tree file and checkpoint of a ledger")
    ledger.add_argument("directory", type=Path, help="the ledger directory")
    ledger.add_argument("--json", action="store_true", help="print the result as JSON")
    proof = commands.add_parser(
        "proof", help="verify the JSON that `call-ledger prove inclusion`, `prove consistency` or "
        "`prove redaction --json` prints")
    proof.add_argument("file", type=Path, help="the proof (JSON), or - for standard input")
    proof.add_argument("--key", help="the verifier key to trust (a key string or a verifier.key file) instead "
                       "of the one the proof carries")
    proof.add_argument("--json", action="store_true", help="print the result as JSON")
    bundle = commands.add_parser(
        "bundle", help="verify a `call-ledger audit export` bundle: every event, proof, opened part and the "
        "redaction proof")
    bundle.add_argument("file", type=Path, help="the bundle (JSON), or - for standard input")
    bundle.add_argument("--key", help="the verifier key to trust (a key string or a verifier.key file) instead "
                        "of the one the bundle carries")
    bundle.add_argument("--ledger", type=Path, help="also check, by reading this ledger's whole log, that the "
                        "bundle holds every event of its call below its bound (the signed statement's claim)")
    bundle.add_argument("--json", action="store_true", help="print the result as JSON")
    cluster = commands.add_parser(
        "cluster-proof", help="verify the JSON that `call-ledger cluster prove` prints: an event's shard proof, "
        "its shard checkpoint and that checkpoint's inclusion in the signed root")
    cluster.add_argument("file", type=Path, help="the proof (JSON), or - for standard input")
    cluster.add_argument("--root-key", help="the root verifier key to trust (a key string or a file holding it)")
    cluster.add_argument("--shard-key", action="append", default=[],
                         help="a shard verifier key to trust (a key string or a verifier.key file); repeat per shard")
    cluster.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser.parse_args(argv)


def pinned_key(value: str | None) -> str | None:
    """The key string of ``--key``: the value itself, or the contents of the file it names."""
    if value is None or "+" in value:
        return value
    return Path(value).read_text(encoding="utf-8").strip()


def main(argv: list[str]) -> int:
    """Runs one command; returns the exit status."""
    arguments = parse_arguments(argv)
    try:
        if arguments.command == "ledger":
            if not arguments.directory.is_dir():
                print(f"tools/verify: cannot read {arguments.directory}: not a directory", file=sys.stderr)
                return 1
            result = LedgerVerifier(arguments.directory, lambda line: print(line, file=sys.stderr)).run()
        else:
            name = str(arguments.file)
            try:
                text = sys.stdin.read() if name == "-" else arguments.file.read_text(encoding="utf-8")
                key = pinned_key(getattr(arguments, "key", None))
                root_key = pinned_key(getattr(arguments, "root_key", None))
                shard_keys = [pinned_key(value) or "" for value in getattr(arguments, "shard_key", [])]
            except OSError as error:
                print(f"tools/verify: cannot read {error.filename or name}: {error.strerror or error}", file=sys.stderr)
                return 1
            try:
                document = json.loads(text)
            except ValueError as error:
                raise Fault(name, f"is not JSON: {error}") from None
            if arguments.command == "cluster-proof":
                result = ClusterProofVerifier(name, document, root_key, shard_keys).run()
            elif arguments.command == "bundle":
                result = BundleVerifier(name, document, key).run()
                if arguments.ledger is not None:
                    result = check_against_log(result, document, arguments.ledger,
                                               lambda line: print(line, file=sys.stderr))
            elif isinstance(document, dict) and "purges" in document:
                result = RedactionVerifier(name, document, key).run()
            else:
                result = ProofVerifier(name, document, key).run()
    except Fault as fault:
        if arguments.json:
            print(json.dumps({"ok": False, "fault": fault.to_json()}, indent=2))
        print(f"tools/verify: FAULT: {fault}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_json(), indent=2) if arguments.json else result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
