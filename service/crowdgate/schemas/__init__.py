"""marshmallow schemas: the one source of truth for every request and response shape."""
