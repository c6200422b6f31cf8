"""Send providers: one per transport, behind the small interface in base.py."""
