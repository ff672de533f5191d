-- Cairn store, schema version 8: blocks kept in the order they were written, found by CID
-- through an index.
-- Keyed by CID (a hash), every new block landed on a random page of a tree of large rows: an
-- import of many blocks read, split and rewrote pages all over the table, and left them half
-- full. Appended in order, blocks fill pages one after the other; only the index of CIDs
-- (about 45 bytes an entry) takes random inserts.
CREATE TABLE blocks_in_order (
    id    INTEGER PRIMARY KEY,
    cid   BLOB    NOT NULL UNIQUE,   -- binary CID (36 bytes)
    bytes BLOB    NOT NULL
);
INSERT INTO blocks_in_order (cid, bytes) SELECT cid, bytes FROM blocks;
DROP TABLE blocks;
ALTER TABLE blocks_in_order RENAME TO blocks;
