"""Mail providers by kind. Each module hides its client library behind providers.base."""
