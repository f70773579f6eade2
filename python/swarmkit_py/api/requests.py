"""Reading Engine API requests: query parameters in Docker's spellings and
JSON bodies checked against the shapes the daemon accepts.

Everything here raises `InvalidArgument` (HTTP 400) with a message that names
the parameter or field at fault, so hostile or mistaken input never reaches
the backend. Bodies follow Go's decoding rules where a client could notice:
unknown fields are ignored, `null` means "not set" (the key is dropped), and
a number where a string belongs (or the reverse) is an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from ..errors import InvalidArgument
from ..logs import LogOptions
from ..model.times import SECOND, parse_time

Check = Callable[[Any, str], Any]

# Go's strconv.ParseBool, which Docker uses for boolean query parameters.
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"", "0", "f", "F", "false", "FALSE", "False"})


def query_bool(request: web.Request, name: str) -> bool:
    """A boolean query parameter; absent or empty means false."""
    raw = request.query.get(name, "")
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InvalidArgument(f"invalid value for {name}: {raw[:64]!r}: expected 1, true, 0 or false")


def query_version(request: web.Request, kind: str) -> int:
    """The required `?version=N` of an update (the object's `Version.Index`)."""
    raw = request.query.get("version", "")
    if not raw.isascii() or not raw.isdigit() or int(raw) >= 2**64:
        shown = raw[:64]
        reason = "missing" if raw == "" else "not an unsigned 64-bit integer"
        raise InvalidArgument(
            f"invalid {kind} version '{shown}': {reason}; send ?version=<Version.Index> "
            f"from the {kind} you read before updating"
        )
    return int(raw)


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str:
    """A string query parameter that must be one of `choices` ("" when absent)."""
    raw = request.query.get(name, "")
    if raw and raw not in choices:
        raise InvalidArgument(
            f"invalid value for {name}: {raw[:64]!r}: expected one of {', '.join(choices)}"
        )
    return raw


def query_time(request: web.Request, name: str) -> int:
    """A point in time as Unix nanoseconds (0 when absent): Docker's
    `seconds[.fraction]`, or an RFC 3339 time."""
    raw = request.query.get(name, "")
    if raw == "":
        return 0
    seconds, dot, fraction = raw.partition(".")
    if (
        seconds.isascii()
        and seconds.isdigit()
        and len(seconds) <= 12
        and (not dot or (fraction.isascii() and fraction.isdigit() and len(fraction) <= 20))
    ):
        return int(seconds) * SECOND + int(fraction[:9].ljust(9, "0") if dot else "0")
    try:
        return max(0, parse_time(raw))
    except InvalidArgument:
        raise InvalidArgument(
            f'invalid value for "{name}": {raw[:64]!r}: expected Unix seconds (e.g. '
            "1700000000.5) or an RFC 3339 time (e.g. 2024-01-02T15:04:05Z)"
        ) from None


def query_log_options(request: web.Request) -> LogOptions:
    """The options of `GET /services/{id}/logs` and `/tasks/{id}/logs`, with
    Docker's rules: `stdout` and `stderr` default to false and one is needed,
    `tail` is "all" or a count."""
    stdout, stderr = query_bool(request, "stdout"), query_bool(request, "stderr")
    if not stdout and not stderr:
        raise InvalidArgument(
            "must specify at least one of 'stdout' or 'stderr' (add ?stdout=1&stderr=1)"
        )
    raw_tail = request.query.get("tail", "")
    tail: int | None = None
    if raw_tail not in ("", "all"):
        if not raw_tail.isascii() or not raw_tail.isdigit() or len(raw_tail) > 18:
            raise InvalidArgument(
                f"invalid value for tail: {raw_tail[:64]!r}: tail value must be a positive "
                'integer or "all"'
            )
        tail = int(raw_tail)
    return LogOptions(
        stdout=stdout,
        stderr=stderr,
        since_ns=query_time(request, "since"),
        until_ns=query_time(request, "until"),
        tail=tail,
        follow=query_bool(request, "follow"),
        timestamps=query_bool(request, "timestamps"),
        details=query_bool(request, "details"),
    )


def query_filters(request: web.Request, accepted: frozenset[str]) -> dict[str, list[str]]:
    """`?filters=` as Docker encodes it: `{"role":{"manager":true}}`, or the older
    list form `{"role":["manager"]}`. Keys outside `accepted` are refused."""
    raw = request.query.get("filters", "")
    if raw == "":
        return {}
    try:
        parsed = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise InvalidArgument(f"invalid filters: not JSON ({_short(err)})") from err
    if not isinstance(parsed, dict):
        raise InvalidArgument(
            'invalid filters: expected a JSON object like {"role":{"manager":true}}'
        )
    filters: dict[str, list[str]] = {}
    for key, values in parsed.items():
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key[:64]}'")
        if isinstance(values, dict) and all(isinstance(v, bool) for v in values.values()):
            filters[key] = [str(v) for v in values]
        elif isinstance(values, list) and all(isinstance(v, str) for v in values):
            filters[key] = list(values)
        else:
            raise InvalidArgument(
                f"invalid filter '{key[:64]}': expected a map of values to true, or a list of "
                "strings"
            )
    return filters


async def json_body(request: web.Request, check: Check, what: str) -> Any:
    """The request body decoded and checked; an empty body is an error."""
    raw = await request.read()
    if not raw.strip():
        raise InvalidArgument(f"invalid JSON: the request body is empty; send a {what} object")
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as err:
        raise InvalidArgument("invalid JSON: the request body is not UTF-8") from err
    except (ValueError, RecursionError) as err:
        raise InvalidArgument(f"invalid JSON: {_short(err)}") from err
    return check(value, what)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _short(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "nested too deeply"
    return str(err)[:200]


def _wrong(where: str, expected: str, value: Any) -> InvalidArgument:
    got = {
        bool: "a boolean",
        str: "a string",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)
    return InvalidArgument(f"invalid JSON: {where} must be {expected}, got {got}")


# -- field checks: each returns the (normalized) value or raises -------------


def string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _wrong(where, "a string", value)
    return value


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong(where, "a boolean", value)
    return value


def integer(low: int, high: int, unit: str = "") -> Check:
    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(where, f"an integer{unit}", value)
        if not low <= value <= high:
            raise InvalidArgument(f"invalid JSON: {where} is out of range ({low} to {high})")
        return value

    return check


INT64 = integer(-(2**63), 2**63 - 1)
UINT64 = integer(0, 2**64 - 1)
UINT32 = integer(0, 2**32 - 1)
NANOSECONDS = integer(-(2**63), 2**63 - 1, " of nanoseconds")


def list_of(item: Check) -> Check:
    def check(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _wrong(where, "an array", value)
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return check


def string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _wrong(where, "an object of strings", value)
    return {k: string(v, f"{where}.{k}") for k, v in value.items()}


def one_of(*choices: str, empty_means_unset: bool = False) -> Check:
    """A string enum, compared case-insensitively (as Docker's converters do)
    and answered in lower case; with `empty_means_unset`, "" drops the field
    (the docker CLI sends `"Availability": ""` when no flag was given)."""

    def check(value: Any, where: str) -> str | None:
        text = string(value, where)
        if text == "" and empty_means_unset:
            return None
        if text.lower() not in choices:
            field = where.rsplit(".", 1)[-1]
            raise InvalidArgument(
                f"invalid {field}: {text[:64]!r}; expected one of {', '.join(choices)}"
            )
        return text.lower()

    return check


def obj(fields: Mapping[str, Check], required: tuple[str, ...] = ()) -> Check:
    """A JSON object: known fields checked, unknown ones kept as they are,
    `null` fields (and fields a check answers None for) dropped; `required`
    fields must be present."""

    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _wrong(where, "an object", value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            field_check = fields.get(key)
            checked = (
                field_check(item, f"{where}.{key}") if field_check and item is not None else item
            )
            if checked is not None:
                out[key] = checked
        for key in required:
            if key not in out:
                raise InvalidArgument(f'invalid {key}: "": {where}.{key} is required')
        return out

    return check


AVAILABILITY = one_of("active", "pause", "drain")
OPTIONAL_AVAILABILITY = one_of("active", "pause", "drain", empty_means_unset=True)
ROLE = one_of("worker", "manager")

EXTERNAL_CA = obj(
    {"Protocol": one_of("cfssl"), "URL": string, "Options": string_map, "CACert": string}
)

SWARM_SPEC = obj(
    {
        "Name": string,
        "Labels": string_map,
        "Orchestration": obj({"TaskHistoryRetentionLimit": INT64}),
        "Raft": obj(
            {
                "SnapshotInterval": UINT64,
                "KeepOldSnapshots": UINT64,
                "LogEntriesForSlowFollowers": UINT64,
                "ElectionTick": INT64,
                "HeartbeatTick": INT64,
            }
        ),
        "Dispatcher": obj({"HeartbeatPeriod": NANOSECONDS}),
        "CAConfig": obj(
            {
                "NodeCertExpiry": NANOSECONDS,
                "ExternalCAs": list_of(EXTERNAL_CA),
                "SigningCACert": string,
                "SigningCAKey": string,
                "ForceRotate": UINT64,
            }
        ),
        "EncryptionConfig": obj({"AutoLockManagers": boolean}),
        "TaskDefaults": obj({"LogDriver": obj({"Name": string, "Options": string_map})}),
    }
)

SWARM_INIT_REQUEST = obj(
    {
        "ListenAddr": string,
        "AdvertiseAddr": string,
        "DataPathAddr": string,
        "DataPathPort": UINT32,
        "DefaultAddrPool": list_of(string),
        "ForceNewCluster": boolean,
        "SubnetSize": UINT32,
        "Spec": SWARM_SPEC,
        "Availability": OPTIONAL_AVAILABILITY,
        "AutoLockManagers": boolean,
    }
)

SWARM_JOIN_REQUEST = obj(
    {
        "ListenAddr": string,
        "AdvertiseAddr": string,
        "DataPathAddr": string,
        "RemoteAddrs": list_of(string),
        "JoinToken": string,
        "Availability": OPTIONAL_AVAILABILITY,
    }
)

# Docker's converter refuses a node spec without a valid Role and Availability:
# an update sends the whole spec, not a patch.
NODE_SPEC = obj(
    {"Name": string, "Labels": string_map, "Role": ROLE, "Availability": AVAILABILITY},
    required=("Role", "Availability"),
)

# A ServiceSpec is checked here only for its shape (each part an object of the
# right kind); its meaning is the daemon's to validate.
SERVICE_SPEC = obj(
    {
        "Name": string,
        "Labels": string_map,
        "TaskTemplate": obj({"ContainerSpec": obj({}), "ForceUpdate": UINT64}),
        "Mode": obj({}),
        "UpdateConfig": obj({}),
        "RollbackConfig": obj({}),
        "EndpointSpec": obj({}),
    }
)
