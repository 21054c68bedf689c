//! Signed releases: the release public key of an agent's configuration (minisign format,
//! Ed25519) and the check of a download (a BootAgent package, a gearman or nodus plugin)
//! against its detached signature `<url>.minisig` (the minisign convention), made before
//! anything of it is unpacked or loaded. Signatures are those of
//! `minisign -S` (0.8 and later: pre-hashed with BLAKE2b-512), `rsign` and `mkpkg --sign`;
//! legacy (not pre-hashed) signatures are refused.

use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use fetch::url::without_userinfo;
use fetch::{Download, Fetcher};

/// The suffix of a package's signature URL.
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// Largest signature file read (a real one is ~300 bytes plus its trusted comment).
const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// Ed25519 algorithm tags of a minisign key or signature: `Ed` (legacy), `ED` (pre-hashed).
const ALG_LEGACY: [u8; 2] = *b"Ed";
const ALG_PREHASHED: [u8; 2] = *b"ED";

/// The release key packages must be signed with.
#[derive(Clone, Debug)]
pub struct ReleaseKey {
    key: minisign_verify::PublicKey,
    id: String,
}

impl ReleaseKey {
    /// Parses a minisign public key: the base64 line (`RWQ...`) that `minisign -G` and
    /// `mkpkg keygen` print, or a whole `minisign.pub` file (its `untrusted comment:` line
    /// first).
    pub fn parse(text: &str) -> Result<ReleaseKey, String> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .collect();
        let [line] = lines.as_slice() else {
            return Err("a minisign public key is one base64 line (RWQ...), optionally after its `untrusted comment:` line".into());
        };
        let bytes = decode_base64(line)
            .filter(|b| b.len() == 42 && b[..2] == ALG_LEGACY)
            .ok_or_else(|| {
                format!("`{line}` is not a minisign Ed25519 public key (RWQ... , 56 characters)")
            })?;
        let key = minisign_verify::PublicKey::from_base64(line)
            .map_err(|e| format!("`{line}` is not a minisign public key: {e}"))?;
        Ok(ReleaseKey {
            key,
            id: key_id(&bytes[2..10]),
        })
    }

    /// Reads a `minisign.pub` file (or a file holding just the key line).
    pub fn from_file(path: &Path) -> Result<ReleaseKey, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        ReleaseKey::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The key id as minisign shows it (upper-case hex, no leading zeros).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Checks `file` against the text of its `.minisig` signature; the error says why not.
    pub fn verify_file(&self, file: &Path, signature: &str) -> Result<(), String> {
        let parsed = minisign_verify::Signature::decode(signature)
            .map_err(|e| format!("signature is not a minisign signature ({e})"))?;
        let (alg, signed_by) = signature_key(signature)
            .ok_or("signature is not a minisign signature (no signature line)")?;
        if signed_by != self.id {
            return Err(format!(
                "signature does not match release key {}: it was made with key {signed_by}",
                self.id
            ));
        }
        if alg != ALG_PREHASHED {
            return Err(format!(
                "signature is a legacy (not pre-hashed) minisign signature; release key {} \
                 accepts only pre-hashed ones (minisign -S without -l, or mkpkg --sign)",
                self.id
            ));
        }
        let mut verifier = self
            .key
            .verify_stream(&parsed)
            .map_err(|e| format!("signature does not match release key {}: {e}", self.id))?;
        let mut input = std::fs::File::open(file)
            .map_err(|e| format!("cannot read the download {}: {e}", file.display()))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => verifier.update(&buf[..n]),
                Err(e) => return Err(format!("cannot read the download {}: {e}", file.display())),
            }
        }
        verifier.finalize().map_err(|_| {
            format!(
                "signature does not match release key {}: the package or the signature's \
                 trusted comment was changed after signing",
                self.id
            )
        })
    }
}

/// Minisign's key id display: the 8 key id bytes as a little-endian number in upper-case
/// hex, without leading zeros (as `minisign` prints it: `%PRIX64`).
fn key_id(bytes: &[u8]) -> String {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[..8]);
    format!("{:X}", u64::from_le_bytes(le))
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

/// The algorithm and key id of a signature text (its second line: algorithm, key id, bytes).
fn signature_key(signature: &str) -> Option<([u8; 2], String)> {
    let bytes = decode_base64(signature.lines().nth(1)?)?;
    if bytes.len() != 74 {
        return None;
    }
    Some(([bytes[0], bytes[1]], key_id(&bytes[2..10])))
}

/// The signature URL of a package URL: `.minisig` appended to its path.
pub fn signature_url(url: &str) -> String {
    match url.find(['?', '#']) {
        Some(at) => format!("{}{SIGNATURE_SUFFIX}{}", &url[..at], &url[at..]),
        None => format!("{url}{SIGNATURE_SUFFIX}"),
    }
}

/// Downloads the signature of package `url` (same credentials and TLS as the package).
pub fn fetch_signature(fetcher: &Fetcher, url: &str) -> Result<String, String> {
    let sig_url = signature_url(url);
    let shown = without_userinfo(&sig_url);
    let body = fetcher.open(&sig_url).map_err(|e| match e {
        fetch::Error::Status { status, .. } if matches!(status.as_u16(), 404 | 410) => {
            format!("signature missing: {shown} answered {}", status.as_u16())
        }
        other => format!("signature missing: {other}"),
    })?;
    let mut text = String::new();
    body.take(MAX_SIGNATURE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("signature missing: download {shown}: {e}"))?;
    if text.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(format!(
            "signature {shown} is larger than {MAX_SIGNATURE_BYTES} bytes"
        ));
    }
    Ok(text)
}

/// Downloads package `url` (at most `max_bytes`) into `dir`, checked against `checksum`
/// and, with a release `key`, against its signature. On any failure nothing is left on disk.
pub fn download(
    fetcher: &Fetcher,
    key: Option<&ReleaseKey>,
    url: &str,
    checksum: &str,
    dir: &Path,
    max_bytes: u64,
) -> Result<Download, String> {
    // The signature first: a missing one fails the job before a large download.
    let signature = key.map(|_| fetch_signature(fetcher, url)).transpose()?;
    let download = fetcher
        .fetch_at_most(url, Some(checksum), dir, max_bytes)
        .map_err(|e| e.to_string())?;
    if let (Some(key), Some(signature)) = (key, signature) {
        key.verify_file(download.path(), &signature)
            .map_err(|e| format!("{e} ({}); nothing installed", without_userinfo(url)))?;
    }
    Ok(download)
}

#[cfg(test)]
mod tests {
    use super::key_id;

    #[test]
    fn key_ids_read_as_minisign_prints_them() {
        // `minisign -G` printed "minisign public key D27ACE9C4746361" for this key number:
        // no leading zero, so an error naming the key matches the file the admin has.
        let bytes = 0x0D27_ACE9_C474_6361u64.to_le_bytes();
        assert_eq!(key_id(&bytes), "D27ACE9C4746361");
        assert_eq!(key_id(&u64::MAX.to_le_bytes()), "FFFFFFFFFFFFFFFF");
    }
}
