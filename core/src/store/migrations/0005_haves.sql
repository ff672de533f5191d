-- Cairn store, schema version 5: which peers said they hold an artifact.
-- Filled from signed "have" messages heard in project rooms; read by installs to fetch from
-- the peers of a project before anyone else. A row is a claim, never trusted: what is fetched
-- is checked against the artifact's CID.
CREATE TABLE haves (
    artifact BLOB    NOT NULL,   -- binary CID (raw codec)
    node     BLOB    NOT NULL,   -- the peer's endpoint ID (its 32-byte node key)
    addrs    TEXT    NOT NULL,   -- its direct addresses, `ip:port` separated by spaces
    heard    INTEGER NOT NULL,   -- when the message was signed (Unix seconds)
    PRIMARY KEY (artifact, node)
) WITHOUT ROWID;
CREATE INDEX haves_by_heard ON haves (heard);
