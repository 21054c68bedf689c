//! The digest agents list for a library: `SHA256:<64 hex digits>` of the file's bytes, the same
//! form as a release's checksum, so an inventory line can be compared with the catalogue.
//!
//! The loader computes it once, from the file it opened for the ELF check, before `dlopen`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;

use sha2::{Digest as _, Sha256};

/// The prefix of every digest.
pub const PREFIX: &str = "SHA256:";

/// `SHA256:<hex>` of everything in `file` (read from offset 0, whatever its position).
pub fn sha256_of(file: &File) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut offset = 0u64;
    loop {
        let n = match file.read_at(&mut buffer, offset) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        offset += n as u64;
    }
    Ok(format!("{PREFIX}{}", hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_the_whole_file_in_the_release_checksum_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.so");
        std::fs::write(&path, "abc").unwrap();
        let file = File::open(&path).unwrap();
        // The well-known SHA-256 of "abc".
        assert_eq!(
            sha256_of(&file).unwrap(),
            "SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let big = dir.path().join("big.so");
        std::fs::write(&big, vec![7u8; 600 * 1024]).unwrap();
        let digest = sha256_of(&File::open(&big).unwrap()).unwrap();
        assert_eq!(digest.len(), PREFIX.len() + 64);
        assert_ne!(digest, sha256_of(&file).unwrap());
    }
}
