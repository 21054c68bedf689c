//! The release key of `[plugins]` and the check of an uploaded plugin against its minisign
//! signature: the same convention as the agents' (a detached `.minisig`, Ed25519, pre-hashed
//! with BLAKE2b as `minisign -S` and `mkpkg --sign` make it; legacy signatures refused), checked
//! here on the upload in memory. The agents check the file again when they download it, with
//! their own copy of the key.

use base64::Engine as _;

/// Largest signature accepted (a real one is ~300 bytes plus its trusted comment).
pub const SIGNATURE_MAX: usize = 64 * 1024;

/// A minisign public key.
#[derive(Clone)]
pub struct ReleaseKey {
    key: minisign_verify::PublicKey,
    id: String,
}

impl std::fmt::Debug for ReleaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReleaseKey({})", self.id)
    }
}

/// Minisign's key id display: the 8 key id bytes as a little-endian number in upper-case
/// hex, without leading zeros (as `minisign` prints it: `%PRIX64`).
fn key_id(bytes: &[u8]) -> Option<String> {
    let le: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(format!("{:X}", u64::from_le_bytes(le)))
}

/// The key id a signature names (its second line's bytes 2..10), if it is readable.
fn signed_by(signature: &str) -> Option<String> {
    let line = signature
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .ok()?;
    key_id(bytes.get(2..)?)
}

impl ReleaseKey {
    /// Parses a minisign public key: the base64 line (`RWQ...`), or a whole `minisign.pub`
    /// text (its `untrusted comment:` line first).
    pub fn parse(text: &str) -> Result<ReleaseKey, String> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .collect();
        let [line] = lines.as_slice() else {
            return Err(
                "a minisign public key is one base64 line (RWQ...), optionally after \
                its `untrusted comment:` line"
                    .into(),
            );
        };
        let key = minisign_verify::PublicKey::from_base64(line)
            .map_err(|e| format!("`{line}` is not a minisign public key: {e}"))?;
        let id = base64::engine::general_purpose::STANDARD
            .decode(line)
            .ok()
            .and_then(|b| key_id(b.get(2..)?))
            .ok_or_else(|| format!("`{line}` is not a minisign public key"))?;
        Ok(ReleaseKey { key, id })
    }

    /// The key id as minisign shows it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Checks `file` against the text of its `.minisig` signature; the error says why not.
    pub fn verify(&self, file: &[u8], signature: &str) -> Result<(), String> {
        let parsed = minisign_verify::Signature::decode(signature)
            .map_err(|e| format!("the signature is not a minisign signature ({e})"))?;
        if let Some(other) = signed_by(signature).filter(|id| *id != self.id) {
            return Err(format!(
                "the signature was made with key {other}, not with release key {}",
                self.id
            ));
        }
        self.key.verify(file, &parsed, false).map_err(|e| match e {
            minisign_verify::Error::UnexpectedAlgorithm => format!(
                "the signature is a legacy (not pre-hashed) minisign signature; release key {} \
                 accepts only pre-hashed ones (minisign -S without -l, or mkpkg --sign)",
                self.id
            ),
            _ => format!(
                "the signature does not match release key {}: the file or the signature's \
                 trusted comment was changed after signing",
                self.id
            ),
        })
    }
}

/// Whether `text` reads as a minisign signature at all (stored beside a release when no key
/// is configured, for agents that have one).
pub fn readable(text: &str) -> Result<(), String> {
    minisign_verify::Signature::decode(text)
        .map(|_| ())
        .map_err(|e| format!("the signature is not a minisign signature ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (minisign::SecretKey, String) {
        let minisign::KeyPair { pk, sk } =
            minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        (sk, pk.to_base64())
    }

    fn sign(key: &minisign::SecretKey, data: &[u8]) -> String {
        minisign::sign(None, key, data, Some("file:p.so\thashed"), None)
            .unwrap()
            .into_string()
    }

    #[test]
    fn signatures_verify_only_with_their_key_and_file() {
        let (sk, pk) = pair();
        let key =
            ReleaseKey::parse(&format!("untrusted comment: minisign public key\n{pk}\n")).unwrap();
        let signature = sign(&sk, b"plugin");
        key.verify(b"plugin", &signature).unwrap();
        assert!(
            key.verify(b"plugin!", &signature)
                .unwrap_err()
                .contains("does not match")
        );
        let (other, _) = pair();
        let error = key.verify(b"plugin", &sign(&other, b"plugin")).unwrap_err();
        assert!(error.contains("made with key"), "{error}");
        assert!(
            key.verify(b"plugin", "garbage")
                .unwrap_err()
                .contains("not a minisign")
        );
        assert!(ReleaseKey::parse("RWQnot-a-key").is_err());
        assert!(readable(&signature).is_ok());
    }
}
