//! The content hashes of a regular file (md5, sha256, sha512, blake3; only those its rule
//! asks for), read once; for a growing file (`growing`/`S`) also the hashes of its first `old size`
//! bytes, taken on the way, so an appended log is told apart from a rewritten one in one pass.
//! Crates chosen by measurement: see the comment in Cargo.toml and `benches/hashes.rs`.

use std::io::{self, Read};

use sha2::Digest as _;

use crate::rules::{Attr, AttrSet};

/// The hashes of some bytes. sha256 inline (the common rule); the others, rarer, in one box,
/// so that an entry stays small (a check holds one per path).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hashes {
    pub sha256: Option<[u8; 32]>,
    pub more: Option<Box<MoreHashes>>,
}

/// The hashes other than sha256.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MoreHashes {
    pub sha512: Option<[u8; 64]>,
    pub blake3: Option<[u8; 32]>,
    /// AIDE's `R` checks md5.
    pub md5: Option<[u8; 16]>,
}

impl Hashes {
    /// The value of one hash attribute.
    pub fn get(&self, attr: Attr) -> Option<&[u8]> {
        if attr == Attr::Sha256 {
            return self.sha256.as_ref().map(|h| &h[..]);
        }
        let more = self.more.as_deref()?;
        match attr {
            Attr::Sha512 => more.sha512.as_ref().map(|h| &h[..]),
            Attr::Blake3 => more.blake3.as_ref().map(|h| &h[..]),
            Attr::Md5 => more.md5.as_ref().map(|h| &h[..]),
            _ => None,
        }
    }

    /// Sets one hash attribute from its bytes (reading a database); wrong lengths are refused.
    pub fn set(&mut self, attr: Attr, bytes: &[u8]) -> Result<(), String> {
        let bad = || format!("{} of {} bytes", attr.name(), bytes.len());
        match attr {
            Attr::Sha256 => self.sha256 = Some(bytes.try_into().map_err(|_| bad())?),
            Attr::Sha512 => self.more_mut().sha512 = Some(bytes.try_into().map_err(|_| bad())?),
            Attr::Blake3 => self.more_mut().blake3 = Some(bytes.try_into().map_err(|_| bad())?),
            Attr::Md5 => self.more_mut().md5 = Some(bytes.try_into().map_err(|_| bad())?),
            _ => return Err(format!("{} is not a hash", attr.name())),
        }
        Ok(())
    }

    fn more_mut(&mut self) -> &mut MoreHashes {
        self.more.get_or_insert_with(Box::default)
    }
}

/// The running hashers of one file.
#[derive(Clone)]
struct Hasher {
    sha256: Option<ring::digest::Context>,
    sha512: Option<sha2::Sha512>,
    blake3: Option<Box<blake3::Hasher>>,
    md5: Option<md5::Md5>,
}

impl Hasher {
    fn new(attrs: AttrSet) -> Hasher {
        Hasher {
            sha256: attrs
                .has(Attr::Sha256)
                .then(|| ring::digest::Context::new(&ring::digest::SHA256)),
            sha512: attrs.has(Attr::Sha512).then(sha2::Sha512::new),
            blake3: attrs
                .has(Attr::Blake3)
                .then(|| Box::new(blake3::Hasher::new())),
            md5: attrs.has(Attr::Md5).then(md5::Md5::new),
        }
    }

    fn update(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha512 {
            h.update(data);
        }
        if let Some(h) = &mut self.blake3 {
            h.update(data);
        }
        if let Some(h) = &mut self.md5 {
            h.update(data);
        }
    }

    fn finish(self) -> Hashes {
        let more =
            (self.sha512.is_some() || self.blake3.is_some() || self.md5.is_some()).then(|| {
                Box::new(MoreHashes {
                    sha512: self.sha512.map(|h| h.finalize().into()),
                    blake3: self.blake3.map(|h| *h.finalize().as_bytes()),
                    md5: self.md5.map(|h| h.finalize().into()),
                })
            });
        Hashes {
            sha256: self
                .sha256
                .and_then(|h| h.finish().as_ref().try_into().ok()),
            more,
        }
    }
}

/// Size of the read buffer each worker keeps.
pub const BUFFER: usize = 256 * 1024;

/// Hashes everything `reader` gives, with the hashes `attrs` names. With `prefix`, also
/// returns the hashes of the first `prefix` bytes (when the file has at least that many).
pub fn hash_reader(
    reader: &mut impl Read,
    attrs: AttrSet,
    prefix: Option<u64>,
    buf: &mut [u8],
) -> io::Result<(Hashes, Option<Hashes>)> {
    let mut hasher = Hasher::new(attrs);
    let mut at_prefix = None;
    let mut done: u64 = 0;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut chunk = &buf[..n];
        if let Some(p) = prefix.filter(|p| at_prefix.is_none() && *p <= done + n as u64) {
            let split = (p - done) as usize;
            hasher.update(&chunk[..split]);
            at_prefix = Some(hasher.clone());
            chunk = &chunk[split..];
        }
        hasher.update(chunk);
        done += n as u64;
    }
    if prefix == Some(0) && at_prefix.is_none() {
        at_prefix = Some(Hasher::new(attrs));
    }
    Ok((hasher.finish(), at_prefix.map(Hasher::finish)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_hashes_equal_the_hashes_of_the_prefix_alone() {
        let attrs = AttrSet::of(&[Attr::Md5, Attr::Sha256, Attr::Sha512, Attr::Blake3]);
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut buf = vec![0; 4096];
        let (whole, prefix) = hash_reader(&mut &data[..], attrs, Some(300_001), &mut buf).unwrap();
        let (alone, _) = hash_reader(&mut &data[..300_001], attrs, None, &mut buf).unwrap();
        assert_eq!(prefix.unwrap(), alone);
        assert_ne!(whole, alone);
        let expected: [u8; 32] = sha2::Sha256::digest(&data).into();
        assert_eq!(whole.sha256, Some(expected));
        assert_eq!(
            whole.get(Attr::Blake3),
            Some(&blake3::hash(&data).as_bytes()[..])
        );
        assert_eq!(whole.get(Attr::Md5), Some(&md5::Md5::digest(&data)[..]));
        // RFC 1321's test vector.
        let (abc, _) = hash_reader(&mut &b"abc"[..], attrs, None, &mut buf).unwrap();
        let hex: String = abc
            .get(Attr::Md5)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, "900150983cd24fb0d6963f7d28e17f72");
        let (_, none) = hash_reader(&mut &data[..10], attrs, Some(11), &mut buf).unwrap();
        assert!(
            none.is_none(),
            "a file shorter than the prefix has no prefix hash"
        );
    }
}
