"""Email written in the CRM, from the composer to the recipient's server.

    drafting.py   recipients, placeholders, quoting: what the composer fills in and checks
    mime.py       the message as bytes (text, optional HTML from Markdown, attachments)
    routes.py     which way it leaves (own mailbox, company address, the CRM's mailer) and why
    pace.py       each provider's documented sending limits, and when a queued message may go
    outbox.py     the outbox's state machine (services): queue, send once, hold, retry, fall back
    selectors.py  what the outbox page and the cards show

The transports themselves are the send providers in mailsync/senders/.
"""
