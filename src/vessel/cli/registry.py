"""`vessel pull`, `vessel push`, `vessel login`, `vessel logout` (docker's output and flags).

Credentials live in ``<root>/auth.json`` (mode 0600, docker's ``auths`` format); see
vessel.image.credentials.  Plain http is used for loopback registries and for those given
with ``--insecure-registry`` (or ``$VESSEL_INSECURE_REGISTRIES``, comma-separated).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vessel.errors import InvalidArgument


def _session(args: argparse.Namespace):  # noqa: ANN202
    from vessel.image.credentials import CredentialStore
    from vessel.image.registry import Session

    env = [h.strip() for h in os.environ.get("VESSEL_INSECURE_REGISTRIES", "").split(",") if h.strip()]
    creds = CredentialStore.under(Path(args.root))
    return Session(credentials=creds.get, insecure=tuple(env + list(args.insecure_registry or [])))


def _printer(quiet: bool):  # noqa: ANN202
    from vessel.image.distribution import render

    def emit(message: dict) -> None:
        line = None if quiet else render(message)
        if line is not None:
            print(line, flush=True)
    return emit


def _default_tag(name: str, quiet: bool) -> None:
    from vessel.image.reference import parse_reference

    ref = parse_reference(name, default_tag=None)
    if ref.tag is None and ref.digest is None and not quiet:
        print("Using default tag: latest", flush=True)


def cmd_pull(args: argparse.Namespace) -> int:
    from vessel.cli.image import make_store
    from vessel.image.reference import parse_reference
    from vessel.image.registry import drive, pull

    _default_tag(args.name, args.quiet)
    drive(pull(make_store(args), args.name, _session(args)), _printer(args.quiet))
    print(str(parse_reference(args.name)))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from vessel.cli.image import make_store
    from vessel.image.registry import drive, push

    _default_tag(args.name, args.quiet)
    drive(push(make_store(args), args.name, _session(args)), _printer(args.quiet))
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        if args.password is not None:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        return sys.stdin.readline().rstrip("\r\n")
    if args.password is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
        return args.password
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    raise InvalidArgument("no password given", hint="use --password-stdin or -p")


def cmd_login(args: argparse.Namespace) -> int:
    from vessel.image.credentials import CredentialStore, Credentials
    from vessel.image.registry import login

    if not args.username:
        raise InvalidArgument("login needs a user name", hint="vessel login -u USER --password-stdin [SERVER]")
    creds = Credentials(args.username, _password(args))
    domain = login(args.server, creds, _session(args))
    CredentialStore.under(Path(args.root)).set(domain, creds)
    print("Login Succeeded")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    from vessel.image.credentials import CredentialStore
    from vessel.image.distribution import auth_key, normalize_server

    domain = normalize_server(args.server)
    if CredentialStore.under(Path(args.root)).remove(domain):
        print(f"Removing login credentials for {auth_key(domain)}")
    else:
        print(f"Not logged in to {auth_key(domain)}")
    return 0


def _insecure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--insecure-registry", action="append", metavar="HOST[:PORT]",
                   help="speak plain http to this registry (loopback ones always are)")


def register(subparsers) -> None:  # noqa: ANN001
    p = subparsers.add_parser("pull", help="download an image from a registry")
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image name")
    _insecure(p)
    p.set_defaults(func=cmd_pull)
    p = subparsers.add_parser("push", help="upload an image to a registry")
    p.add_argument("name", metavar="NAME[:TAG]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    _insecure(p)
    p.set_defaults(func=cmd_push)
    p = subparsers.add_parser("login", help="log in to a registry (credentials kept in <root>/auth.json)")
    p.add_argument("server", nargs="?", help="registry host[:port] (default docker.io)")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _insecure(p)
    p.set_defaults(func=cmd_login)
    p = subparsers.add_parser("logout", help="forget the credentials of a registry")
    p.add_argument("server", nargs="?")
    p.set_defaults(func=cmd_logout)
