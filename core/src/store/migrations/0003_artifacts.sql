-- Cairn store, schema version 3: artifacts held as files under `artifacts/<cid>`.
CREATE TABLE artifacts (
    cid    BLOB    PRIMARY KEY,      -- binary raw-codec CID
    size   INTEGER NOT NULL,
    sha256 BLOB    NOT NULL
) WITHOUT ROWID;
