"""Credentials and small settings the agent keeps (tables ``credentials`` and ``meta``).

``credentials``: local admin credentials, argon2-hashed (never the secret itself).
``meta``: small key/values: the token signing key, the hub's public key once joined.
"""

from __future__ import annotations

from atoll.site_agent.store.database import Database


class CredentialTables(Database):
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def get_credential(self, name: str) -> str | None:
        row = self.conn.execute("SELECT hash FROM credentials WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def add_credential(self, name: str, hashed: str) -> bool:
        """Store a credential hash unless one exists; True when stored."""
        with self.tx() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO credentials(name, hash, created) VALUES (?, ?, ?)",
                (name, hashed, self.clock()),
            )
            return cur.rowcount == 1

    def set_credential(self, name: str, hashed: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE credentials SET hash = ? WHERE name = ?", (hashed, name))
