//! The htpasswd user file: read at start, re-read whenever its mtime, size or inode changes (so
//! users are added without a restart), plus a short cache of successful checks so bcrypt's
//! ~70 ms is paid about once a minute per user rather than on every request.
//! Checking one password against one hash is [`super::hash`]'s job.
//!
//! An unknown user costs what a known one does: the password is checked against a dummy hash
//! of the file's most common kind (bcrypt at the same cost, SHA-crypt with the same rounds,
//! apr1, `{SHA}` or DES crypt), so the time of a refusal does not tell which user names exist.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use super::hash::{self, Scheme};

/// How long a successful check is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Most remembered checks; past this, expired ones are dropped, then all if still full.
const CACHE_MAX: usize = 4096;

/// Users and hashes from one htpasswd file.
pub struct Htpasswd {
    path: PathBuf,
    /// The parsed file and the stamp it was read at. Never held across an `.await`.
    loaded: Mutex<Loaded>,
    /// SHA-256(salt, user, password, stored hash) → when it was verified. Keyed by the stored
    /// hash too, so changing a user's password in the file invalidates the entry at once; the
    /// random per-process salt keeps these digests useless outside this process.
    good: Mutex<HashMap<[u8; 32], Instant>>,
    salt: [u8; 16],
    /// Bounds concurrent slow checks (bcrypt, SHA-crypt) so a burst of wrong passwords cannot
    /// take every blocking thread.
    slow_slots: Semaphore,
    /// Hash verifications run so far (known and unknown users alike).
    verifications: AtomicU64,
}

/// One reading of the file.
struct Loaded {
    stamp: Stamp,
    users: Arc<Users>,
}

/// The users of one reading, and the hash an unknown user's password is checked against.
struct Users {
    by_name: HashMap<String, String>,
    dummy: String,
}

impl Users {
    fn new(by_name: HashMap<String, String>) -> Users {
        let dummy = dummy_hash(by_name.values().map(String::as_str));
        Users { by_name, dummy }
    }
}

/// A hash of the kind (and bcrypt cost) most users of the file have, that no password is
/// expected to match: checking a password against it costs what checking a real user's does.
fn dummy_hash<'a>(hashes: impl Iterator<Item = &'a str>) -> String {
    let mut kinds: HashMap<(u8, u32), usize> = HashMap::new();
    for stored in hashes {
        let rounds = || hash::sha_crypt_rounds(stored).unwrap_or(5000);
        let kind = match Scheme::of(stored) {
            Some(Scheme::Bcrypt) => (0, bcrypt_cost(stored).unwrap_or(10)),
            Some(Scheme::Apr1) => (1, 0),
            Some(Scheme::Sha1) => (2, 0),
            Some(Scheme::Sha256Crypt) => (3, rounds()),
            Some(Scheme::Sha512Crypt) => (4, rounds()),
            Some(Scheme::DesCrypt) => (5, 0),
            None => continue,
        };
        *kinds.entry(kind).or_default() += 1;
    }
    let most = kinds
        .into_iter()
        .max_by_key(|&(kind, n)| (n, std::cmp::Reverse(kind)));
    match most.map_or((0, 10), |(kind, _)| kind) {
        (1, _) => "$apr1$dummy.sa$0pd/Sv7m5uX3cGwyWS9M51".into(),
        (2, _) => "{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        (3, rounds) => format!("$5$rounds={rounds}$dummy.salt.0123${}", ".".repeat(43)),
        (4, rounds) => format!("$6$rounds={rounds}$dummy.salt.0123${}", ".".repeat(86)),
        (5, _) => "du...........".into(),
        (_, cost) => format!("$2y${cost:02}$MKDE5ibkue2ZTJOlSLeg8.gdGSgxl3t0ZPadoniFWzqf2NzhQ8AJO"),
    }
}

/// The cost of a `$2y$NN$...` hash.
fn bcrypt_cost(stored: &str) -> Option<u32> {
    stored.get(4..6)?.parse().ok()
}

/// What tells a changed file: modification time, size, inode (an editor's rename).
type Stamp = (Option<SystemTime>, u64, u64);

impl Htpasswd {
    /// Reads the file once; an unreadable file is a configuration error.
    pub fn open(path: &Path) -> anyhow::Result<Htpasswd> {
        let (stamp, users) =
            read(path).with_context(|| format!("cannot read htpasswd file {}", path.display()))?;
        if users.is_empty() {
            tracing::warn!(path = %path.display(), "htpasswd file has no usable users yet");
        }
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Htpasswd {
            path: path.to_owned(),
            loaded: Mutex::new(Loaded {
                stamp,
                users: Arc::new(Users::new(users)),
            }),
            good: Mutex::new(HashMap::new()),
            salt: *uuid::Uuid::new_v4().as_bytes(),
            slow_slots: Semaphore::new(slots),
            verifications: AtomicU64::new(0),
        })
    }

    /// Checks a user's password. `Err` only when the file cannot be read any more. An unknown
    /// user's password is checked too, against the dummy hash, and refused whatever it is.
    pub async fn check(&self, user: &str, password: &str) -> io::Result<bool> {
        let users = self.current()?;
        let Some(stored) = users.by_name.get(user) else {
            self.verify(password, &users.dummy).await;
            return Ok(false);
        };
        let key = self.key(user, password, stored);
        if self.remembered(&key) {
            return Ok(true);
        }
        let ok = self.verify(password, stored).await;
        if ok {
            self.remember(key);
        }
        Ok(ok)
    }

    /// Hash verifications run so far: one per check not answered from the cache.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Checks one password against one hash; slow schemes on a blocking thread, a few at a
    /// time.
    async fn verify(&self, password: &str, stored: &str) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        if !Scheme::of(stored).is_some_and(Scheme::is_slow) {
            return hash::verify(password.as_bytes(), stored);
        }
        let _slot = self.slow_slots.acquire().await.ok();
        let (password, stored) = (password.to_owned(), stored.to_owned());
        tokio::task::spawn_blocking(move || hash::verify(password.as_bytes(), &stored))
            .await
            .unwrap_or(false)
    }

    /// The users as of now, re-reading the file if it changed.
    fn current(&self) -> io::Result<Arc<Users>> {
        let stamp = stamp(&std::fs::metadata(&self.path)?);
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if loaded.stamp != stamp {
            let (stamp, users) = read(&self.path)?;
            tracing::info!(path = %self.path.display(), users = users.len(), "htpasswd file re-read");
            *loaded = Loaded {
                stamp,
                users: Arc::new(Users::new(users)),
            };
        }
        Ok(loaded.users.clone())
    }

    fn key(&self, user: &str, password: &str, stored: &str) -> [u8; 32] {
        let mut digest = Sha256::new();
        for part in [
            &self.salt[..],
            user.as_bytes(),
            password.as_bytes(),
            stored.as_bytes(),
        ] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part);
        }
        digest.finalize().into()
    }

    fn remembered(&self, key: &[u8; 32]) -> bool {
        let good = self.good.lock().unwrap_or_else(PoisonError::into_inner);
        good.get(key).is_some_and(|at| at.elapsed() < CACHE_TTL)
    }

    fn remember(&self, key: [u8; 32]) {
        let mut good = self.good.lock().unwrap_or_else(PoisonError::into_inner);
        if good.len() >= CACHE_MAX {
            good.retain(|_, at| at.elapsed() < CACHE_TTL);
            if good.len() >= CACHE_MAX {
                good.clear();
            }
        }
        good.insert(key, Instant::now());
    }
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    (meta.modified().ok(), meta.len(), meta.ino())
}

/// Reads and parses the file, stamping it with the metadata of the handle actually read.
fn read(path: &Path) -> io::Result<(Stamp, HashMap<String, String>)> {
    let mut file = std::fs::File::open(path)?;
    let stamp = stamp(&file.metadata()?);
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes)?;
    Ok((stamp, parse(path, &String::from_utf8_lossy(&bytes))))
}

/// Parses `user:hash` lines (nginx also allows a trailing `:comment`); blank lines and `#`
/// comments are skipped, the first line of a user wins (as in Apache), and lines whose hash
/// this server cannot check are logged and left out.
pub fn parse(path: &Path, text: &str) -> HashMap<String, String> {
    let mut users = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, rest)) = line.split_once(':') else {
            tracing::warn!(path = %path.display(), line = number + 1, "htpasswd line without `:` ignored");
            continue;
        };
        let stored = rest.split(':').next().unwrap_or_default();
        if Scheme::of(stored).is_none() {
            if hash::looks_plain(stored) {
                tracing::warn!(
                    path = %path.display(), line = number + 1, user,
                    "password in plain text (htpasswd -p) refused, as Apache on Linux refuses it: \
                     hash it with htpasswd -B"
                );
            } else {
                tracing::warn!(
                    path = %path.display(), line = number + 1, user,
                    "unsupported password hash ignored (use htpasswd -B, -m, -s, -2, -5 or -d)"
                );
            }
            continue;
        }
        users
            .entry(user.to_owned())
            .or_insert_with(|| stored.to_owned());
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_comments_and_duplicates() {
        let text = "# users\r\nalice:$apr1$j0idDb.J$wSWydqt6Mne0vp5QqtOEh1:comment\r\n\n\
                    bob:plain\nalice:{SHA}x\nno-colon\nerin:{SHA}KkPcK3XYeA35EhWhKYmaCyAgadY=\n\
                    frank:$y$j9T$unsupported$yescrypt\ngrace:/GXLDRJzmj8h.\n";
        let users = parse(Path::new("t"), text);
        assert_eq!(users.len(), 3);
        assert_eq!(users["grace"], "/GXLDRJzmj8h.");
        assert!(!users.contains_key("frank"));
        assert_eq!(users["alice"], "$apr1$j0idDb.J$wSWydqt6Mne0vp5QqtOEh1");
        assert!(users.contains_key("erin"));
        assert!(!users.contains_key("bob"));
    }

    #[tokio::test]
    async fn rereads_the_file_and_caches_good_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, "erin:{SHA}KkPcK3XYeA35EhWhKYmaCyAgadY=\n").unwrap();
        let users = Htpasswd::open(&path).unwrap();
        assert!(users.check("erin", "sha-secret").await.unwrap());
        assert!(!users.check("erin", "wrong").await.unwrap());
        assert!(!users.check("alice", "apr-secret").await.unwrap());
        assert_eq!(users.good.lock().unwrap().len(), 1);

        // A new user appears without a restart; the removed one is refused at once even
        // though its good check is still cached (the key includes the stored hash).
        std::fs::write(
            &path,
            "alice:$apr1$j0idDb.J$wSWydqt6Mne0vp5QqtOEh1\nerin:{SHA}x\n",
        )
        .unwrap();
        assert!(users.check("alice", "apr-secret").await.unwrap());
        assert!(!users.check("erin", "sha-secret").await.unwrap());

        std::fs::remove_file(&path).unwrap();
        assert!(users.check("alice", "apr-secret").await.is_err());
    }

    #[test]
    fn the_dummy_hash_is_of_the_most_common_kind_and_cost() {
        let bcrypt12 = "$2y$12$MKDE5ibkue2ZTJOlSLeg8.gdGSgxl3t0ZPadoniFWzqf2NzhQ8AJO";
        let dummy = dummy_hash([bcrypt12, bcrypt12, "{SHA}x"].into_iter());
        assert_eq!(Scheme::of(&dummy), Some(Scheme::Bcrypt));
        assert_eq!(bcrypt_cost(&dummy), Some(12));
        let apr = "$apr1$j0idDb.J$wSWydqt6Mne0vp5QqtOEh1";
        assert_eq!(
            Scheme::of(&dummy_hash([apr].into_iter())),
            Some(Scheme::Apr1)
        );
        assert_eq!(
            Scheme::of(&dummy_hash(["{SHA}x"].into_iter())),
            Some(Scheme::Sha1)
        );
        // An empty file still costs a bcrypt check at the usual cost.
        assert_eq!(bcrypt_cost(&dummy_hash(std::iter::empty())), Some(10));
        // SHA-crypt at the rounds of the file's hashes, DES crypt (htpasswd -2, -5, -d).
        let sha256 = "$5$rounds=6000$PE6RJ/6jkwps/WI7$ttyH4muhHtQ95KIA0YkmUIFbqY0OtQr1VBYBMkBcrYA";
        let sha512 = "$6$3RgZbItjZuI55K4h$.rZ5Pm9wQsXwLxVI80TeaT3h1Du5g6iWTqYSdaLRZTTE0YxTHr96uxdFWBYbqxzR3P5tDYNvrZTKKh.Yixh.g1";
        let des = "/GXLDRJzmj8h.";
        let dummy = dummy_hash([sha256, sha256, des].into_iter());
        assert_eq!(Scheme::of(&dummy), Some(Scheme::Sha256Crypt));
        assert_eq!(hash::sha_crypt_rounds(&dummy), Some(6000));
        let dummy = dummy_hash([sha512].into_iter());
        assert_eq!(Scheme::of(&dummy), Some(Scheme::Sha512Crypt));
        assert_eq!(hash::sha_crypt_rounds(&dummy), Some(5000));
        assert_eq!(
            Scheme::of(&dummy_hash([des].into_iter())),
            Some(Scheme::DesCrypt)
        );
        // A dummy is a hash this server can check, and no usual password matches it.
        for kind in [
            bcrypt12.replace("$12$", "$04$"),
            apr.into(),
            "{SHA}x".into(),
            sha256.into(),
            sha512.into(),
            des.into(),
        ] {
            let dummy = dummy_hash([kind.as_str()].into_iter());
            for password in ["", "password", "apr-secret", "bcrypt-secret", "secret-pw"] {
                assert!(!hash::verify(password.as_bytes(), &dummy), "{dummy}");
            }
            // Computed in full like a real user's (not refused early for its form).
            if kind.starts_with("$5$") || kind.starts_with("$6$") || kind == des {
                assert!(pwhash::unix::crypt("password", &dummy).is_ok(), "{dummy}");
            }
        }
    }

    #[tokio::test]
    async fn unknown_users_cost_a_verification_like_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(
            &path,
            "dave:$2y$05$MKDE5ibkue2ZTJOlSLeg8.gdGSgxl3t0ZPadoniFWzqf2NzhQ8AJO\n",
        )
        .unwrap();
        let users = Htpasswd::open(&path).unwrap();
        assert_eq!(users.verifications(), 0);
        assert!(!users.check("dave", "wrong").await.unwrap());
        assert_eq!(users.verifications(), 1);
        assert!(!users.check("nobody", "wrong").await.unwrap());
        assert_eq!(users.verifications(), 2, "an unknown user runs a hash too");
        let dummy = users.current().unwrap().dummy.clone();
        assert_eq!(
            (Scheme::of(&dummy), bcrypt_cost(&dummy)),
            (Some(Scheme::Bcrypt), Some(5))
        );
        assert!(users.check("dave", "bcrypt-secret").await.unwrap());
        assert!(users.check("dave", "bcrypt-secret").await.unwrap());
        assert_eq!(users.verifications(), 3, "a cached good check runs none");
    }
}
