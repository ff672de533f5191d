-- Cairn store, schema version 6: revisions found by their payload CID.
-- Serving a `chain` request, fetching a log and `cairn verify CID` look a revision up by its
-- payload CID; without this index each lookup read the whole revisions table.
CREATE INDEX revisions_by_payload ON revisions (payload_cid);
