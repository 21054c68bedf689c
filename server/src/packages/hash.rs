//! Password hashes found in htpasswd files: bcrypt (`$2y$`, `$2a$`, `$2b$`), Apache's apr1
//! MD5 (`$apr1$`) and `{SHA}` (base64 SHA-1). Reading and caching the file is
//! [`super::htpasswd`]'s job; this file only answers "does this password match this hash".

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};
use sha1::Sha1;

/// The kinds of hash this server can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `$2y$` / `$2a$` / `$2b$`: slow on purpose (~70 ms at cost 10), check on a blocking thread.
    Bcrypt,
    /// `$apr1$`: Apache's MD5-crypt variant (`htpasswd -m`).
    Apr1,
    /// `{SHA}`: base64 of SHA-1 (`htpasswd -s`), unsalted.
    Sha1,
}

impl Scheme {
    /// Recognises a hash by its prefix; `None` for crypt(3) DES, plaintext and anything else.
    pub fn of(hash: &str) -> Option<Scheme> {
        if ["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) {
            Some(Scheme::Bcrypt)
        } else if hash.starts_with("$apr1$") {
            Some(Scheme::Apr1)
        } else if hash.starts_with("{SHA}") {
            Some(Scheme::Sha1)
        } else {
            None
        }
    }
}

/// Checks `password` against an htpasswd hash. Unknown schemes never match.
///
/// Blocking for bcrypt: call it from `spawn_blocking`.
pub fn verify(password: &[u8], hash: &str) -> bool {
    match Scheme::of(hash) {
        Some(Scheme::Bcrypt) => bcrypt::verify(password, hash).unwrap_or(false),
        Some(Scheme::Apr1) => {
            let Some(rest) = hash.strip_prefix("$apr1$") else {
                return false;
            };
            let salt = rest.split('$').next().unwrap_or("");
            constant_time_eq(apr1(password, salt.as_bytes()).as_bytes(), hash.as_bytes())
        }
        Some(Scheme::Sha1) => {
            let expected = STANDARD.encode(Sha1::digest(password));
            constant_time_eq(expected.as_bytes(), &hash.as_bytes()["{SHA}".len()..])
        }
        None => false,
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The crypt(3) base-64 alphabet used by MD5-crypt.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Computes Apache's `$apr1$salt$hash` for a password (Poul-Henning Kamp's MD5-crypt with the
/// magic `$apr1$`; the salt is cut at 8 bytes, as Apache does).
pub fn apr1(password: &[u8], salt: &[u8]) -> String {
    const MAGIC: &[u8] = b"$apr1$";
    let salt = &salt[..salt.len().min(8)];

    let mut alternate = Md5::new();
    alternate.update(password);
    alternate.update(salt);
    alternate.update(password);
    let alternate = alternate.finalize();

    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(MAGIC);
    ctx.update(salt);
    for chunk in (0..password.len()).step_by(16) {
        ctx.update(&alternate[..(password.len() - chunk).min(16)]);
    }
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut digest = ctx.finalize();

    for round in 0..1000 {
        let mut ctx = Md5::new();
        if round % 2 == 1 {
            ctx.update(password);
        } else {
            ctx.update(digest);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round % 2 == 1 {
            ctx.update(digest);
        } else {
            ctx.update(password);
        }
        digest = ctx.finalize();
    }

    let mut out = String::with_capacity(37);
    out.push_str("$apr1$");
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let d = |i: usize| u32::from(digest[i]);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push_base64(&mut out, (d(a) << 16) | (d(b) << 8) | d(c), 4);
    }
    push_base64(&mut out, d(11), 2);
    out
}

/// Appends the `count` low 6-bit groups of `value`, least significant first.
fn push_base64(out: &mut String, mut value: u32, count: usize) {
    for _ in 0..count {
        out.push(char::from(ITOA64[(value & 0x3f) as usize]));
        value >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors made with Apache's `htpasswd -nbm` / `-nbs` / `-nbB -C 5` (apache2-utils 2.4).
    const APR1: &[(&str, &str)] = &[
        ("apr-secret", "$apr1$j0idDb.J$wSWydqt6Mne0vp5QqtOEh1"),
        ("", "$apr1$f0iyF4K4$RvWlyXJfzcR7aOIUkN/DY0"),
        (
            "a much longer password with ünïcode and more than sixteen bytes",
            "$apr1$cwdb9b53$vi4G4gfo82GI.v445M4me.",
        ),
    ];

    #[test]
    fn apr1_matches_apache_htpasswd() {
        for (password, hash) in APR1 {
            let salt = hash.split('$').nth(2).unwrap();
            assert_eq!(apr1(password.as_bytes(), salt.as_bytes()), *hash);
            assert!(verify(password.as_bytes(), hash));
            assert!(!verify(b"wrong", hash));
        }
    }

    #[test]
    fn sha1_and_bcrypt_lines_verify() {
        let sha = "{SHA}KkPcK3XYeA35EhWhKYmaCyAgadY=";
        assert!(verify(b"sha-secret", sha));
        assert!(!verify(b"sha-secreT", sha));
        let bcrypt = "$2y$05$MKDE5ibkue2ZTJOlSLeg8.gdGSgxl3t0ZPadoniFWzqf2NzhQ8AJO";
        assert!(verify(b"bcrypt-secret", bcrypt));
        assert!(!verify(b"bcrypt-secre", bcrypt));
    }

    #[test]
    fn unknown_and_malformed_hashes_never_match() {
        assert_eq!(Scheme::of("plaintext"), None);
        assert!(!verify(b"plaintext", "plaintext"));
        assert!(!verify(b"x", "rl5W0CNvEdbNc")); // crypt(3) DES is not supported
        assert!(!verify(b"x", "$2y$05$short"));
        assert!(!verify(b"", "$apr1$"));
        assert!(!verify(b"", "{SHA}"));
    }
}
