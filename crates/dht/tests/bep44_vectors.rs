//! BEP 44 known answers: the spec's test vectors (signed with libtorrent's expanded key) and the
//! items libtorrent, bittorrent-dht and mainline signed during the interop lab runs.

use std::path::Path;

use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign};
use ed25519_dalek::{Sha512, SigningKey, VerifyingKey};
use serde_json::Value as Json;
use swarmfs_dht::{ImmutableItem, MutableItem, Value, mutable_target, signable};

fn json(name: &str) -> Json {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(value: &Json) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

#[test]
fn spec_vectors_byte_identical() {
    let spec = json("bep44_spec_vectors.json");
    let public: [u8; 32] = unhex(&spec["public_key"]).try_into().unwrap();
    let expanded: [u8; 64] = unhex(&spec["private_key_expanded"]).try_into().unwrap();
    let secret = ExpandedSecretKey::from_bytes(&expanded);
    let verifying = VerifyingKey::from_bytes(&public).unwrap();
    assert_eq!(VerifyingKey::from(&secret), verifying);
    let tests = spec["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 3);
    for test in tests {
        let v = Value::from_bencode(test["v_benc"].as_str().unwrap().as_bytes().to_vec()).unwrap();
        let target = test["target"].as_str().unwrap();
        if test["name"] == "immutable" {
            assert_eq!(ImmutableItem::new(v).target().to_string(), target);
            continue;
        }
        let salt = test["salt"].as_str().unwrap().as_bytes();
        let seq = test["seq"].as_i64().unwrap();
        let msg = signable(salt, seq, &v);
        assert_eq!(msg, test["signable"].as_str().unwrap().as_bytes());
        let sig = raw_sign::<Sha512>(&secret, &msg, &verifying).to_bytes();
        assert_eq!(hex::encode(sig), test["sig"].as_str().unwrap());
        let item = MutableItem::from_parts(public, salt.to_vec(), seq, v, sig).unwrap();
        assert_eq!(item.target().to_string(), target);
        assert_eq!(mutable_target(&public, salt).to_string(), target);
    }
}

/// The lab derived keys from fixed seeds (RFC 8032); our signatures must match the other
/// implementations' byte for byte.
#[test]
fn crosscheck_signatures_match_other_implementations() {
    let record = json("bep44_crosscheck.json");
    let keys: Vec<SigningKey> = [0x11u8, 0x22, 0x33]
        .iter()
        .map(|byte| SigningKey::from_bytes(&[*byte; 32]))
        .collect();
    let mut checked = 0;
    for (name, entry) in record.as_object().unwrap() {
        let (Some(sig), Some(seq)) = (entry.get("sig"), entry.get("seq")) else {
            continue;
        };
        let v_benc = match (entry.get("v_benc"), entry.get("v_hex")) {
            (Some(b), _) => unhex(b),
            (None, Some(h)) => Value::from_byte_string(&unhex(h))
                .unwrap()
                .as_bencode()
                .to_vec(),
            _ => panic!("{name}: no value"),
        };
        let salt = unhex(&entry["salt_hex"]);
        let target = entry["target"].as_str().unwrap();
        // The entry names its target; exactly one lab seed owns it.
        let key = keys
            .iter()
            .find(|k| mutable_target(&k.verifying_key().to_bytes(), &salt).to_string() == target)
            .unwrap_or_else(|| panic!("{name}: target from no known seed"));
        if let Some(pk) = entry.get("pubkey").or(entry.get("k")) {
            assert_eq!(key.verifying_key().to_bytes().to_vec(), unhex(pk), "{name}");
        }
        let value = Value::from_bencode(v_benc).unwrap();
        let item = MutableItem::sign(key, &salt, seq.as_i64().unwrap(), value).unwrap();
        assert_eq!(
            hex::encode(item.signature()),
            sig.as_str().unwrap(),
            "{name}"
        );
        checked += 1;
    }
    let signed = record
        .as_object()
        .unwrap()
        .values()
        .filter(|e| e.get("sig").is_some())
        .count();
    assert!(signed >= 8);
    assert_eq!(checked, signed);
}

#[test]
fn bep46_publications_match() {
    let record = json("bep46_e2e.json");
    let key = SigningKey::from_bytes(&[0x46; 32]);
    for name in ["publish_v1", "publish_v2"] {
        let entry = &record[name];
        assert_eq!(
            hex::encode(key.verifying_key().to_bytes()),
            entry["pubkey"].as_str().unwrap()
        );
        let ih: [u8; 20] = unhex(&entry["ih"]).try_into().unwrap();
        let value = Value::bep46(&ih);
        assert_eq!(value.as_bencode(), unhex(&entry["v_benc"]));
        let salt = unhex(&entry["salt_hex"]);
        let seq = entry["seq"].as_i64().unwrap();
        assert_eq!(signable(&salt, seq, &value), unhex(&entry["signable_hex"]));
        let item = MutableItem::sign(&key, &salt, seq, value).unwrap();
        assert_eq!(
            hex::encode(item.signature()),
            entry["sig"].as_str().unwrap()
        );
        assert_eq!(item.target().to_string(), entry["target"].as_str().unwrap());
    }
}
