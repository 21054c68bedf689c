//! Fuzzes the package server's htpasswd lines and hash checks (`polaris::packages`). Input:
//! a first line used as the password a client sends, then the file's text. Never a panic;
//! every user kept has a hash this server can check; apr1 and `{SHA}` hashes made for a
//! password verify with it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use polaris::packages::hash::{self, Scheme};
use polaris::packages::htpasswd;

/// bcrypt hashes of a higher cost are parsed but not verified here (cost 31 would take days;
/// the file is the operator's, not a client's).
const MAX_BCRYPT_COST: u32 = 5;
/// Nor are SHA-crypt hashes of more rounds (up to 999 999 999 are allowed).
const MAX_SHA_CRYPT_ROUNDS: u32 = 10_000;

fn bcrypt_cost(stored: &str) -> Option<u32> {
    stored.get(4..6)?.parse().ok()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (password, file) = text.split_once('\n').unwrap_or((&text, ""));
    let users = htpasswd::parse(Path::new("fuzz.htpasswd"), file);
    for (user, stored) in &users {
        assert!(!user.contains(':') && !user.contains('\n'), "user `{user}`");
        assert!(!stored.contains(':'), "hash `{stored}`");
        let scheme = Scheme::of(stored).expect("only checkable hashes are kept");
        if scheme == Scheme::Bcrypt && bcrypt_cost(stored).is_none_or(|c| c > MAX_BCRYPT_COST) {
            continue;
        }
        let sha_crypt = matches!(scheme, Scheme::Sha256Crypt | Scheme::Sha512Crypt);
        if sha_crypt && hash::sha_crypt_rounds(stored).is_none_or(|r| r > MAX_SHA_CRYPT_ROUNDS) {
            continue;
        }
        let _ = hash::verify(password.as_bytes(), stored);
        if scheme == Scheme::Apr1 {
            let salt = stored["$apr1$".len()..]
                .split('$')
                .next()
                .unwrap_or_default();
            if salt.is_ascii() {
                let made = hash::apr1(password.as_bytes(), salt.as_bytes());
                assert!(hash::verify(password.as_bytes(), &made), "apr1 {made}");
            }
        }
    }
    let sha = format!("{{SHA}}{}", base64_sha1(password.as_bytes()));
    assert!(hash::verify(password.as_bytes(), &sha));
    assert!(!hash::verify(b"", "plain"));
});

/// `htpasswd -s`'s hash of `password`, made independently of the server's code.
fn base64_sha1(password: &[u8]) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(password))
}
