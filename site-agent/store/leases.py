"""Address leases (table ``ipam``): which port holds which address on which subnet."""

from __future__ import annotations

from collections.abc import Iterator

from atoll.site_agent.store.database import Database


class LeaseTable(Database):
    def leases(self, subnet_id: str) -> dict[str, str]:
        """address -> port id."""
        rows = self.conn.execute(
            "SELECT address, port_id FROM ipam WHERE subnet_id = ?", (subnet_id,)
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def lease(self, subnet_id: str, port_id: str, candidates: Iterator[str]) -> str | None:
        """The port's address on the subnet: its existing lease, or the first free candidate."""
        with self.tx() as c:
            row = c.execute(
                "SELECT address FROM ipam WHERE subnet_id = ? AND port_id = ?",
                (subnet_id, port_id),
            ).fetchone()
            if row is not None:
                return str(row[0])
            taken = {
                r[0]
                for r in c.execute("SELECT address FROM ipam WHERE subnet_id = ?", (subnet_id,))
            }
            for address in candidates:
                if address not in taken:
                    c.execute(
                        "INSERT INTO ipam(subnet_id, address, port_id) VALUES (?, ?, ?)",
                        (subnet_id, address, port_id),
                    )
                    return address
            return None

    def release(self, port_id: str) -> int:
        with self.tx() as c:
            return c.execute("DELETE FROM ipam WHERE port_id = ?", (port_id,)).rowcount

    def release_orphan_leases(self) -> int:
        """Drop leases whose port is no longer desired (a crash between purge steps); the
        usual case, none, is one read and no write transaction."""
        orphans = "FROM ipam WHERE port_id NOT IN (SELECT id FROM objects WHERE kind = 'port')"
        if self.conn.execute(f"SELECT 1 {orphans} LIMIT 1").fetchone() is None:
            return 0
        with self.tx() as c:
            return c.execute(f"DELETE {orphans}").rowcount
