-- Cairn store, schema version 1. Specified in spec/08-store.md.

-- Verified record blocks (revision payloads are reached through `revisions`).
CREATE TABLE blocks (
    cid   BLOB PRIMARY KEY,          -- binary CID (36 bytes)
    bytes BLOB NOT NULL
) WITHOUT ROWID;

-- Every verified revision envelope of every log.
CREATE TABLE revisions (
    log         TEXT    NOT NULL,    -- identity ID or `<identity-id>:<name>`
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    payload_cid BLOB    NOT NULL,
    signer      TEXT    NOT NULL,    -- identity that signed (the log's own ID for identity logs)
    envelope    BLOB    NOT NULL,
    PRIMARY KEY (log, seq)
) WITHOUT ROWID;

-- The verified head of each log.
CREATE TABLE heads (
    log         TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('identity', 'version-index', 'package-index')),
    seq         INTEGER NOT NULL,
    payload_cid BLOB    NOT NULL,
    state_cid   BLOB    NOT NULL
) WITHOUT ROWID;

-- The highest seq ever verified per log. Clearing caches never touches this table, so a
-- rollback stays refused after the blocks are gone.
CREATE TABLE high_water (
    log         TEXT    PRIMARY KEY,
    seq         INTEGER NOT NULL,
    payload_cid BLOB    NOT NULL
) WITHOUT ROWID;

-- Two signed revisions of one log and seq with different payloads by one identity.
CREATE TABLE forks (
    log        TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    signer     TEXT    NOT NULL,
    envelope_a BLOB    NOT NULL,
    envelope_b BLOB    NOT NULL,
    PRIMARY KEY (log, seq, signer)
) WITHOUT ROWID;

-- Concurrent appends by two maintainers, and how they were settled.
CREATE TABLE conflicts (
    log    TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    winner BLOB    NOT NULL,
    loser  BLOB    NOT NULL,
    PRIMARY KEY (log, seq, loser)
) WITHOUT ROWID;

-- Identities caught equivocating.
CREATE TABLE flagged (
    identity TEXT PRIMARY KEY,
    reason   TEXT NOT NULL
) WITHOUT ROWID;

-- The local address book: petnames are never written anywhere else.
CREATE TABLE petnames (
    petname  TEXT PRIMARY KEY,
    identity TEXT NOT NULL
) WITHOUT ROWID;
