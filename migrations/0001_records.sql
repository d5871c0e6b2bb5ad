-- statusgate's state on PostgreSQL: the same tables of JSON documents the embedded engine
-- keeps, one row per record. Keys compare bytewise (COLLATE "C") so that key order is the
-- same on both engines (append-only tables rely on it).
CREATE TABLE statusgate_records (
    tbl   text NOT NULL,
    key   text COLLATE "C" NOT NULL,
    -- JSON as text, not jsonb: jsonb refuses the \u0000 escape that alert labels may carry.
    value text NOT NULL,
    PRIMARY KEY (tbl, key)
);

-- Unique, increasing ids (append keys, draft ids) across every replica.
CREATE SEQUENCE statusgate_ids;

-- Work that must happen once runs on the replica holding its lease; `epoch` is the fencing
-- token every write of the holder checks.
CREATE TABLE statusgate_leases (
    work       text PRIMARY KEY,
    holder     text NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
