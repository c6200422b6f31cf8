"""Sending through the account's SMTP submission server, then filing the copy in its Sent
folder over IMAP (APPEND, RFC 3501 6.3.11), unless the server filed one itself.

Whether the server files sent mail (Gmail's and Outlook.com's SMTP do, Dovecot and Postfix do
not) is detected on every send, not guessed from the host: the Sent folder is searched for the
Message-ID right after the server accepted the message, and the copy appended only when absent.
A server that filed before is given a few seconds to do so again.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import time
from collections.abc import Callable
from datetime import UTC, datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailsync.connections import ImapAccount, smtp_failure, smtp_open
from mailsync.providers.base import AuthenticationFailed, ProviderError
from mailsync.providers.imap import connect, folder_role, is_loopback
from mailsync.providers.imap_sessions import ImapSession, SessionPool, session_key
from mailsync.senders.base import Accepted, MessageRefused, NotAccepted, Outgoing

TIMEOUT = 30
FILED_BY_SERVER_WAIT = 5.0  # seconds a server that files its own copies is given to do so
_BCC = re.compile(rb"^bcc:.*(?:\r?\n[ \t].*)*\r?\n", re.IGNORECASE | re.MULTILINE)


def without_bcc(raw: bytes) -> bytes:
    """The bytes recipients receive: Bcc removed from the header section only."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    return _BCC.sub(b"", head + b"\r\n").rstrip(b"\r\n") + separator + body


class SmtpSender:
    def __init__(
        self,
        account: ImapAccount,
        *,
        server_files_sent: bool = False,
        sessions: SessionPool | None = None,
    ) -> None:
        self.account = account
        self.server_files_sent = server_files_sent  # learnt from earlier sends
        # The IMAP session that files the copy is kept between sends (as the sync keeps its
        # own, under another key): a send in a row costs a NOOP instead of a login.
        self._sessions = sessions
        self._key = session_key("send", *_imap_identity(account))
        self._session_open: ImapSession | None = None
        self._sent_folder = ""

    # --- hand-over -----------------------------------------------------------------------

    def send(self, outgoing: Outgoing, *, handing_over: Callable[[str], None]) -> Accepted:
        account = self.account
        if account.smtp_security == "plain" and not is_loopback(account.smtp_host):
            raise AuthenticationFailed(
                "Unencrypted SMTP is only allowed to this machine; choose SSL/TLS or STARTTLS."
            )
        where = f"{account.smtp_host}:{account.smtp_port}"
        try:
            with smtp_open(
                account.smtp_host, account.smtp_port, account.smtp_security, TIMEOUT
            ) as smtp:
                smtp.login(account.username, account.password)
                refused = self._envelope(smtp, outgoing)
                handing_over(outgoing.message_id)
                answer: bytes | str
                try:  # smtplib raises for a refused DATA, returns the answer to the message
                    code, answer = smtp.data(without_bcc(outgoing.raw))
                except smtplib.SMTPDataError as data_refused:
                    code, answer = data_refused.smtp_code, data_refused.smtp_error
                if code != 250:  # an answer: certainly not accepted
                    raise _refusal(
                        code, f"The SMTP server refused the message: {code} {_text(answer)}"
                    )
        except (MessageRefused, NotAccepted):
            raise
        except (smtplib.SMTPException, OSError) as error:
            raise smtp_failure(
                error, host=account.smtp_host, where=where, username=account.username
            ) from None
        note = (
            f"The server refused {', '.join(refused)}; the others received it." if refused else ""
        )
        return Accepted(message_id=outgoing.message_id, filed=False, note=note)

    def _envelope(self, smtp: smtplib.SMTP, outgoing: Outgoing) -> list[str]:
        """MAIL FROM and RCPT TO (RFC 5321 3.3); the recipients refused. A permanent (5xx)
        refusal of every recipient refuses the message; a temporary (4xx) one is retried."""
        smtp.ehlo_or_helo_if_needed()
        options = ["SMTPUTF8"] if not all(a.isascii() for a in outgoing.recipients) else []
        if options and not smtp.has_extn("smtputf8"):
            raise MessageRefused(
                "The SMTP server cannot deliver to addresses with non-ASCII characters."
            )
        limit = int(smtp.esmtp_features.get("size", "0") or 0)
        if limit and len(outgoing.raw) > limit:
            raise MessageRefused(
                f"The message is larger than the {limit // 1_000_000} MB the SMTP server accepts."
            )
        code, answer = smtp.mail(outgoing.envelope_from, options)
        if code != 250:
            smtp.rset()
            raise _refusal(code, f"The SMTP server refused the sender: {code} {_text(answer)}")
        refused: list[str] = []
        temporary = False
        for address in outgoing.recipients:
            code, answer = smtp.rcpt(address)
            if code not in (250, 251):
                refused.append(address)
                temporary = temporary or 400 <= code < 500
        if len(refused) == len(outgoing.recipients):
            smtp.rset()
            raise _refusal(
                450 if temporary else 550,
                f"The SMTP server refused every recipient ({', '.join(refused)}).",
            )
        return refused

    # --- the Sent folder -------------------------------------------------------------------

    def find_sent(self, message_id: str) -> bool | None:
        try:
            imap = self._session()
            if not self._sent_folder:
                return None
            imap.select_folder(self._sent_folder, readonly=True)
            return bool(imap.search(["HEADER", "Message-ID", message_id]))
        except (IMAPClientError, OSError, ProviderError):  # the message left all the same
            self._drop_session()
            return None

    def file_copy(self, outgoing: Outgoing) -> bool:
        """The copy the server filed, or an APPEND of ours; False when no Sent folder exists
        or the IMAP server could not be reached (the message was sent all the same)."""
        deadline = time.monotonic() + (FILED_BY_SERVER_WAIT if self.server_files_sent else 0)
        while True:
            found = self.find_sent(outgoing.message_id)
            if found is None:
                return False
            if found:
                self.server_files_sent = True
                return True
            if time.monotonic() >= deadline:
                break
            time.sleep(0.25)  # the server files its copy asynchronously; bounded by the deadline
        self.server_files_sent = False
        try:
            self._session().append(
                self._sent_folder, outgoing.raw, flags=[b"\\Seen"], msg_time=datetime.now(UTC)
            )
        except (IMAPClientError, OSError, ProviderError):
            self._drop_session()
            return False
        return True

    def _session(self) -> IMAPClient:
        if self._session_open is None:
            self._session_open = self._reused() or self._logged_in()
        if not self._session_open.selected:
            self._session_open.selected = _sent_folder(self._session_open.client)
        self._sent_folder = self._session_open.selected
        return self._session_open.client

    def _reused(self) -> ImapSession | None:
        session = self._sessions.take(self._key) if self._sessions else None
        if session is None:
            return None
        try:
            session.client.noop()
        except Exception:  # dropped by the server since: a new login will tell
            session.shut()
            return None
        return session

    def _logged_in(self) -> ImapSession:
        client = connect(self.account.imap(), timeout=TIMEOUT)
        return ImapSession(
            client=client, condstore=False, qresync=False, opened_at=time.monotonic()
        )

    def _drop_session(self) -> None:
        if self._session_open is not None:
            self._session_open.shut()
        self._session_open = None

    def close(self) -> None:
        if self._session_open is None:
            return
        if self._sessions is not None:
            self._sessions.give_back(self._key, self._session_open)
        else:
            with contextlib.suppress(Exception):
                self._session_open.client.logout()
        self._session_open = None


def _imap_identity(account: ImapAccount) -> tuple[object, ...]:
    return (account.imap_host, account.imap_port, account.imap_security, account.username,
            account.password)  # fmt: skip


def _sent_folder(imap: IMAPClient) -> str:
    """The folder flagged \\Sent (RFC 6154), else one named like it; created when none is."""
    folders = imap.list_folders()
    for flags, _, name in folders:
        if folder_role(flags, name) == "sent":
            return str(name)
    imap.create_folder("Sent")
    with contextlib.suppress(IMAPClientError):
        imap.subscribe_folder("Sent")
    return "Sent"


def _refusal(code: int, sentence: str) -> Exception:
    return NotAccepted(sentence) if 400 <= code < 500 else MessageRefused(sentence)


def _text(answer: bytes | str) -> str:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
    return text[:300]
