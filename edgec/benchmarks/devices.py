"""Device addresses for `--device`: `ssh://[user@]host[:port][?opts]` and `adb://SERIAL[?opts]`.

Options after `?` (all optional):
  python=PATH     the device's Python that runs the agent (default `python3`)
  config=FILE     an OpenSSH client config (`ssh -F FILE`); default: the user's own ~/.ssh/config
  retries=N       reconnect attempts after a dropped connection (default 2)
  timeout=SECONDS connect timeout (default 10)
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from edgec.errors import EdgecError

_OPTIONS = {"python", "config", "retries", "timeout"}
# Hostnames, ssh config aliases, IPv4/IPv6 literals, adb serials (incl. "host:port" for adb over TCP).
_SAFE = re.compile(r"^[A-Za-z0-9_.:%\[\]][A-Za-z0-9_.:%\[\]-]*$")
_USAGE = "expected ssh://[user@]host[:port] or adb://SERIAL (options: ?python=PATH&config=FILE&retries=N)"


@dataclass(frozen=True)
class DeviceAddress:
    transport: str  # "local", "ssh" or "adb"
    text: str = ""
    host: str = ""
    user: str | None = None
    port: int | None = None
    serial: str = ""
    python: str = "python3"
    options: dict = field(default_factory=dict)

    @property
    def retries(self) -> int:
        return int(self.options.get("retries", 2))

    @property
    def connect_timeout(self) -> int:
        return int(self.options.get("timeout", 10))

    def describe(self) -> dict:
        """What the report records about where the numbers were measured."""
        return {"transport": self.transport, "address": self.text or "local", "python": self.python}


LOCAL = DeviceAddress("local", python=sys.executable)


def _bad(text: str, why: str) -> EdgecError:
    return EdgecError(f"--device {text!r}: {why}; {_USAGE}")


def _options(text: str, query: str) -> dict:
    parsed = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(parsed) - _OPTIONS)
    if unknown:
        raise _bad(text, f"unknown option {unknown[0]!r} (known: {', '.join(sorted(_OPTIONS))})")
    options = {key: values[-1] for key, values in parsed.items()}
    for key in ("retries", "timeout"):
        if key in options and not (options[key].isdigit() and int(options[key]) <= 100):
            raise _bad(text, f"option {key}={options[key]!r} must be a whole number from 0 to 100")
    if options.get("python", "x") == "" or options.get("config", "x") == "":
        raise _bad(text, "python= and config= need a path")
    return options


def _check_name(text: str, value: str, what: str) -> str:
    # A leading '-' would be read by ssh/adb as an option: refuse rather than quote.
    if not value or not _SAFE.match(value):
        raise _bad(text, f"{what} {value!r} is not a valid name")
    return value


def parse_device(text: str | None) -> DeviceAddress:
    """`None`/"local" -> this machine; otherwise an ssh:// or adb:// address, checked."""
    if text is None or text in ("", "local"):
        return LOCAL
    scheme, sep, _ = text.partition("://")
    if not sep or scheme not in ("ssh", "adb"):
        raise _bad(text, "unknown kind of address")
    parts = urlsplit(text)
    options = _options(text, parts.query)
    python = options.pop("python", "python3")
    if parts.fragment or (parts.path not in ("", "/")):
        raise _bad(text, f"unexpected path {parts.path!r}")
    if scheme == "adb":
        serial = unquote(parts.netloc)
        if "config" in options:
            raise _bad(text, "config= is an ssh option")
        return DeviceAddress("adb", text, serial=_check_name(text, serial, "serial"), python=python, options=options)
    try:
        port = parts.port
    except ValueError as exc:
        raise _bad(text, f"port {parts.netloc.rpartition(':')[2]!r} is not a number from 1 to 65535") from exc
    if port == 0:
        raise _bad(text, "port 0 is not a port")
    host = _check_name(text, parts.hostname or "", "host")
    user = unquote(parts.username) if parts.username else None
    if user is not None:
        _check_name(text, user, "user")
    if parts.password:
        raise _bad(text, "passwords do not go in the address; use keys or ssh-agent")
    return DeviceAddress("ssh", text, host=host, user=user, port=port, python=python, options=options)
