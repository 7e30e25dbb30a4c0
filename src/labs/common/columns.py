"""Column types every service's tables share, the same on SQLite and MariaDB."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

#: Text compared byte for byte on every engine: MariaDB's default collation would make
#: "a", "A" and "a " one value (and two of them in one set a duplicate key).
EXACT = sa.String(255).with_variant(mysql.VARCHAR(255, collation="utf8mb4_nopad_bin"), "mysql")

#: A timestamp kept to the microsecond on every engine (MariaDB's DATETIME drops it).
MicroDateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
