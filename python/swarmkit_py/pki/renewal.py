"""Keeping a node's certificate fresh: renew at 50-80% of its life, on a role change, and when a
root rotation reaches the node; refuse to start with an expired one and say how to recover."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from . import ca_client
from .ca import Clock, utc_now
from .certs import renewal_time
from .errors import CertificateExpiredError, PKIError
from .keystore import KeyStore, NodeCredentials
from .tls import client_context

log = logging.getLogger(__name__)

Address = tuple[str, int]


def check_not_expired(credentials: NodeCredentials, now: datetime) -> None:
    """Raise :class:`CertificateExpiredError`, with what to do, if the certificate has expired."""
    if credentials.identity.not_after <= now:
        ca_client.check_credentials(credentials, now)


class CertificateRenewer:
    """Holds a node's current credentials and renews them when due.

    ``clock`` and ``rng`` are injectable so tests can move through a certificate's life
    without waiting.
    """

    def __init__(
        self,
        credentials: NodeCredentials,
        manager: Address,
        *,
        keystore: KeyStore | None = None,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        on_renewed: Callable[[NodeCredentials], None] | None = None,
    ) -> None:
        check_not_expired(credentials, clock())
        self.manager = manager
        self.keystore = keystore
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_renewed = on_renewed
        self._set(credentials)

    def _set(self, credentials: NodeCredentials) -> None:
        self._credentials = credentials
        self._context: ssl.SSLContext | None = None
        self.renew_at = renewal_time(credentials.certificate, self.rng)

    @property
    def credentials(self) -> NodeCredentials:
        return self._credentials

    def client_context(self) -> ssl.SSLContext:
        """The mutual-TLS client context for new connections (cached until credentials change)."""
        if self._context is None:
            self._context = client_context(self._credentials.root_bundle_pem, self._credentials)
        return self._context

    def renewal_due(self) -> bool:
        """True once the random renewal point of the current certificate has passed."""
        return self.clock() >= self.renew_at

    async def renew(self) -> NodeCredentials:
        """Renew now (new key), persist, and switch new connections to the new certificate."""
        check_not_expired(self._credentials, self.clock())
        credentials = await ca_client.renew(self.manager, self._credentials, now=self.clock())
        self._adopt(credentials)
        return credentials

    def _adopt(self, credentials: NodeCredentials) -> None:
        if self.keystore is not None:
            self.keystore.save(credentials)
        self._set(credentials)
        if self.on_renewed is not None:
            self.on_renewed(credentials)

    async def check(self) -> bool:
        """One round: renew if due or if the manager asks to (role change, root rotation);
        pick up a changed trust bundle. Returns True if the certificate was renewed."""
        if self.renewal_due():
            await self.renew()
            return True
        status = await ca_client.certificate_status(
            self.manager, self._credentials, now=self.clock()
        )
        if status.renew:
            log.info("renewing certificate: %s", status.reason)
            await self.renew()
            return True
        if status.trust_bundle_pem != self._credentials.root_bundle_pem:
            self._adopt(replace(self._credentials, root_bundle_pem=status.trust_bundle_pem))
        return False

    async def run(self, poll_interval: float = 5.0) -> None:
        """Call :meth:`check` every ``poll_interval`` seconds until cancelled; errors are logged
        and retried (an expired certificate stops the loop with its error)."""
        while True:
            try:
                await self.check()
            except CertificateExpiredError:
                raise
            except (PKIError, OSError) as err:
                log.warning("certificate check with %s failed: %s", self.manager, err)
            await asyncio.sleep(poll_interval)
