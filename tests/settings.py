"""Test settings: the product's settings with development secrets allowed and fast hashing."""

import os

os.environ.setdefault("DEBUG", "1")

from crm.settings import *  # noqa: F403
from crm.settings import REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
