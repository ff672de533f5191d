-- Cairn store, schema version 4: staged package-index changes, signed by `curate publish`.
CREATE TABLE drafts (
    log TEXT    NOT NULL,              -- `<identity-id>:<name>` of a package index
    pos INTEGER NOT NULL,              -- order of the staged operations
    op  BLOB    NOT NULL,              -- the operation record (06-logs.md), canonical bytes
    PRIMARY KEY (log, pos)
) WITHOUT ROWID;
