"""The local API (aiohttp): one module per resource, each with ``routes(ctx)``."""
