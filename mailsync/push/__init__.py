"""New mail on the card within seconds: the providers tell Postcard that a mailbox changed, and
its sync runs at once (the minute poll stays as the safety net).

    wakeups.py     a change reported for a mailbox -> one sync soon (bursts coalesced)
    imap_idle.py   the listener process (`manage.py mailbox_listen`): IDLE on each IMAP Inbox
"""
