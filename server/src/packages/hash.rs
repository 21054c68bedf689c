//! Password hashes found in htpasswd files: every kind Apache's `htpasswd` writes on Linux and
//! Apache accepts there: bcrypt (`$2y$`, `$2a$`, `$2b$`), Apache's apr1 MD5 (`$apr1$`), `{SHA}`
//! (base64 SHA-1), SHA-256-crypt (`$5$`), SHA-512-crypt (`$6$`) and traditional DES crypt(3).
//! Plain text (`htpasswd -p`) is refused, as Apache on Linux refuses it. Reading and caching
//! the file is [`super::htpasswd`]'s job; this file only answers "does this password match
//! this hash".

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
    /// `$5$[rounds=N$]salt$hash`: SHA-256-crypt (`htpasswd -2`), 5000 rounds by default.
    Sha256Crypt,
    /// `$6$[rounds=N$]salt$hash`: SHA-512-crypt (`htpasswd -5`), 5000 rounds by default.
    Sha512Crypt,
    /// Traditional crypt(3): a 2-character salt and 11 characters of DES (`htpasswd -d`; only
    /// the first 8 bytes of a password count).
    DesCrypt,
}

impl Scheme {
    /// Recognises a hash by its prefix (DES crypt by its 13 characters of the crypt alphabet);
    /// `None` for plain text and anything else.
    pub fn of(hash: &str) -> Option<Scheme> {
        if ["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) {
            Some(Scheme::Bcrypt)
        } else if hash.starts_with("$apr1$") {
            Some(Scheme::Apr1)
        } else if hash.starts_with("{SHA}") {
            Some(Scheme::Sha1)
        } else if !hash.bytes().all(|b| b.is_ascii_graphic()) {
            // No hash holds control or non-ASCII characters (and pwhash's salt decoder
            // overflows on control characters in debug builds).
            None
        } else if hash.starts_with("$5$") {
            Some(Scheme::Sha256Crypt)
        } else if hash.starts_with("$6$") {
            Some(Scheme::Sha512Crypt)
        } else if hash.len() == 13 && hash.bytes().all(|b| ITOA64.contains(&b)) {
            Some(Scheme::DesCrypt)
        } else {
            None
        }
    }

    /// Whether checking costs milliseconds or more (bcrypt, SHA-crypt): run it on a blocking
    /// thread.
    pub fn is_slow(self) -> bool {
        matches!(
            self,
            Scheme::Bcrypt | Scheme::Sha256Crypt | Scheme::Sha512Crypt
        )
    }
}

/// The rounds of a SHA-crypt hash (`$5$rounds=N$...`, 5000 when not written), `None` for other
/// schemes or an unreadable count.
pub fn sha_crypt_rounds(hash: &str) -> Option<u32> {
    let rest = hash
        .strip_prefix("$5$")
        .or_else(|| hash.strip_prefix("$6$"))?;
    match rest.strip_prefix("rounds=") {
        Some(rounds) => rounds.split('$').next()?.parse().ok(),
        None => Some(5000),
    }
}

/// Whether a stored password looks like plain text (`htpasswd -p`) rather than a hash of a
/// scheme this server does not know: no `$` or `{` scheme marker. Call it on what
/// [`Scheme::of`] did not recognise.
pub fn looks_plain(stored: &str) -> bool {
    !stored.starts_with('$') && !stored.starts_with('{')
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
        // pwhash recomputes the hash with the stored salt (and rounds) and compares the two
        // strings in constant time.
        Some(Scheme::Sha256Crypt) => pwhash::sha256_crypt::verify(password, hash),
        Some(Scheme::Sha512Crypt) => pwhash::sha512_crypt::verify(password, hash),
        Some(Scheme::DesCrypt) => pwhash::unix_crypt::verify(password, hash),
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
    fn sha_crypt_and_des_crypt_lines_verify() {
        // `htpasswd -nb -2`, `-5`, `-5 -r 6000` and `-d` (apache2-utils 2.4.62, Debian 12).
        let sha256 = "$5$PE6RJ/6jkwps/WI7$ttyH4muhHtQ95KIA0YkmUIFbqY0OtQr1VBYBMkBcrYA";
        let sha512 = "$6$3RgZbItjZuI55K4h$.rZ5Pm9wQsXwLxVI80TeaT3h1Du5g6iWTqYSdaLRZTTE0YxTHr96uxdFWBYbqxzR3P5tDYNvrZTKKh.Yixh.g1";
        let rounds = "$6$rounds=6000$Sh7NuRgusjf7pR/m$ljVCDA1nxjEChxN5jhWXTL6IBG7jFHmBEDDbqmSSAtORJ/.hW6yv6KuutNoiSfMdP7l4fP9mCSAbNhudZn28u.";
        let des = "/GXLDRJzmj8h.";
        assert_eq!(Scheme::of(sha256), Some(Scheme::Sha256Crypt));
        assert_eq!(Scheme::of(sha512), Some(Scheme::Sha512Crypt));
        assert_eq!(Scheme::of(des), Some(Scheme::DesCrypt));
        assert_eq!(sha_crypt_rounds(sha256), Some(5000));
        assert_eq!(sha_crypt_rounds(rounds), Some(6000));
        assert_eq!(sha_crypt_rounds(des), None);
        assert!(verify(b"secret-pw", sha256));
        assert!(verify(b"secret-pw", sha512));
        assert!(verify(b"pw", rounds));
        assert!(verify(b"secret-pw", des));
        // DES crypt reads 8 bytes of a password, as Apache's does.
        assert!(verify(b"secret-p", des));
        for hash in [sha256, sha512, des] {
            assert!(!verify(b"Secret-pw", hash), "{hash}");
            assert!(!verify(b"", hash), "{hash}");
        }
        assert!(!verify(b"secret-pw2", sha512));
        assert!(!verify(b"pw ", rounds));
    }

    #[test]
    fn odd_sha_crypt_lines_never_panic_nor_match() {
        for hash in [
            "$5$",
            "$6$$",
            "$5$rounds=$",
            "$5$rounds=$salt$x",
            "$6$rounds=99999999999999999999$salt$x",
            "$5$rounds=-1$salt$x",
            "$5$ü$",
            "$6$sälte.ß€ü$x",
            "$5$\u{0}$x",
            "$6$sa$lt$extra$",
            "$5$rounds=1000",
            "$6$salt.that.is.much.longer.than.sixteen$x",
        ] {
            assert!(!verify(b"secret-pw", hash), "{hash}");
            assert!(!verify("ü".as_bytes(), hash), "{hash}");
            assert!(!verify(b"", hash), "{hash}");
        }
    }

    #[test]
    fn unknown_and_malformed_hashes_never_match() {
        assert_eq!(Scheme::of("plaintext"), None);
        assert!(looks_plain("plaintext"));
        assert!(!looks_plain("$y$j9T$salt$hash"));
        assert!(!verify(b"plaintext", "plaintext"));
        assert!(!verify(b"x", "$2y$05$short"));
        assert!(!verify(b"", "$apr1$"));
        assert!(!verify(b"", "{SHA}"));
        assert!(!verify(b"", "$5$"));
        assert!(!verify(b"", "$6$rounds=x$salt$"));
        assert!(!verify(b"x", "!!!!!!!!!!!!!"));
        // A 13-character plain password is taken for DES crypt and matches nothing, as in
        // Apache.
        assert!(!verify(b"thirteenchars", "thirteenchars"));
    }
}
