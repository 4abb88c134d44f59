"""The rules of crowdgate, free of Flask: they take a database session and plain values."""
