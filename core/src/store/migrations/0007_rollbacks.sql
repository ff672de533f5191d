-- Cairn store, schema version 7: old heads that peers offered as current.
-- A peer that answers a request for a log's head with a revision older than the one verified
-- here serves an old state: a rollback (or a freeze, when it goes on). Nothing it offered is
-- kept; this row says who offered what, so that the node's operator and its users can see it.
CREATE TABLE rollbacks (
    log     TEXT    NOT NULL,   -- the index
    source  TEXT    NOT NULL,   -- who offered it: a peer's endpoint ID (hex)
    offered INTEGER NOT NULL,   -- the seq it offered
    held    INTEGER NOT NULL,   -- the seq verified here when it did
    at      INTEGER NOT NULL,   -- when (Unix seconds)
    PRIMARY KEY (log, source)
) WITHOUT ROWID;
CREATE INDEX rollbacks_by_at ON rollbacks (at);
