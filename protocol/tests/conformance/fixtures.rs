//! Every positive IPLD DAG-CBOR fixture decodes and re-encodes to identical bytes and SHA2-256
//! CID; the negative fixture is refused.

use cairn_protocol::codec::{self, Link};
use sha2::Digest as _;

#[test]
fn ipld_codec_fixtures_round_trip_exactly() {
    let Some(dir) = crate::shared_fixture("ipld-codec-fixtures/fixtures") else {
        return;
    };
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("fixtures dir").collect();
    entries.sort_by_key(|e| e.as_ref().map(std::fs::DirEntry::path).ok());
    for entry in entries {
        let fixture = entry.expect("entry").path();
        let files: Vec<_> = std::fs::read_dir(&fixture)
            .expect("fixture dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "dag-cbor"))
            .collect();
        assert_eq!(
            files.len(),
            1,
            "{} has one dag-cbor file",
            fixture.display()
        );
        let file = &files[0];
        let expected_cid = file
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(file).expect("read");
        let value = codec::decode(&bytes)
            .unwrap_or_else(|e| panic!("{} must decode: {e}", fixture.display()));
        let again = codec::encode(&value);
        assert_eq!(again, bytes, "{} re-encodes identically", fixture.display());
        let sha = sha2::Sha256::digest(&again);
        let cid = Link::v1(0x71, 0x12, &sha).to_string();
        assert_eq!(
            cid,
            expected_cid,
            "{} has the expected CID",
            fixture.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 128, "every positive fixture is checked");
}

#[derive(serde::Deserialize)]
struct Negative {
    name: String,
    hex: String,
}

#[test]
fn ipld_negative_fixture_is_refused() {
    let Some(file) = crate::shared_fixture(
        "ipld-codec-fixtures/negative-fixtures/dag-cbor/decode/duplicate-keys.json",
    ) else {
        return;
    };
    let cases: Vec<Negative> =
        serde_json::from_str(&std::fs::read_to_string(file).expect("read")).expect("json");
    assert_eq!(cases.len(), 1);
    for case in cases {
        let bytes = hex::decode(&case.hex).expect("hex");
        let err = codec::decode(&bytes).expect_err(&case.name);
        assert_eq!(
            err.kind.code(),
            "cbor-duplicate-map-key",
            "{}: {err}",
            case.name
        );
    }
}
