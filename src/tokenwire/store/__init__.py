"""Conversations, messages and API tokens, on SQLite (the default) or PostgreSQL.

- ``database``: the async ``Database`` face the store's SQL runs on, and its exceptions.
- ``sqlite``: SQLite behind that face, on a thread of its own.
- ``postgres``: PostgreSQL behind that face, with a connection pool.
- ``connect``: opens the database a URL names; the one module that knows every backend.
- ``migrations``: schema changes as named steps, applied in order.
- ``conversations``: conversations and their messages, each answer with its status.
- ``tokens``: API tokens, kept only as hashes, and the users they stand for.
- ``producers``: which processes still write their answers, by locks the OS or database frees.
"""
