"""Reading features: the Python SDK and the HTTP feature server."""
