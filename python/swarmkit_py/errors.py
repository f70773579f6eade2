"""Errors of the cluster layers, each with the HTTP status the Engine API
answers with and a message a user can act on (Docker's wording where Docker
has one)."""

from __future__ import annotations


class SwarmError(Exception):
    """Base class: `http_status` is what the Engine API answers."""

    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(SwarmError):
    """A malformed or invalid request (HTTP 400)."""

    http_status = 400


class NotFound(SwarmError):
    """No such object (HTTP 404)."""

    http_status = 404


class NameConflict(SwarmError):
    """An object with that name exists already (HTTP 409)."""

    http_status = 409


class FailedPrecondition(SwarmError):
    """The request is valid but the cluster's state does not allow it now
    (HTTP 400, as Docker answers e.g. a refused demotion or removal)."""

    http_status = 400


class OutOfSequence(SwarmError):
    """An update named an older version of the object (HTTP 500, as Docker)."""

    http_status = 500

    def __init__(self, message: str = "update out of sequence") -> None:
        super().__init__(message)


class AlreadyInSwarm(SwarmError):
    """init/join on a node that is already part of a swarm (HTTP 503, as Docker)."""

    http_status = 503

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or 'This node is already part of a swarm. Use "docker swarm leave" to leave '
            "this swarm and join another one."
        )


class NotInSwarm(SwarmError):
    """A swarm call on a node outside any swarm (HTTP 503)."""

    http_status = 503

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
            'join" to connect this node to swarm and try again.'
        )


class NotManager(SwarmError):
    """A cluster call on a worker (HTTP 503)."""

    http_status = 503

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "This node is not a swarm manager. Worker nodes can't be used to view or modify "
            "cluster state. Please run this command on a manager node or promote the current "
            "node to a manager."
        )


class NoLeader(SwarmError):
    """The managers have lost quorum (HTTP 503)."""

    http_status = 503

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "The swarm does not have a leader. It's possible that too few managers are "
            "online. Make sure more than half of the managers are online."
        )


class LeadershipMoved(SwarmError):
    """The leader handed leadership over to carry out a request; retry it on the new one."""

    http_status = 503

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "leadership moved to another manager; retry the request")


_BY_STATUS: dict[int, type[SwarmError]] = {
    400: InvalidArgument,
    404: NotFound,
    409: NameConflict,
}


def error_for_status(status: int, message: str) -> SwarmError:
    """The error a client raises for an Engine API error answer."""
    if status == 503:
        if "does not have a leader" in message:
            return NoLeader(message)
        if "already part of a swarm" in message:
            return AlreadyInSwarm(message)
        if "Worker nodes can't be used" in message:
            return NotManager(message)
        if "not a swarm manager" in message:
            return NotInSwarm(message)
        if "leadership moved" in message:
            return LeadershipMoved(message)
    if status == 500 and "update out of sequence" in message:
        return OutOfSequence(message)
    cls = _BY_STATUS.get(status, SwarmError)
    err = cls(message)
    err.http_status = status
    return err
