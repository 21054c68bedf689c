//! The packager's side of signed packages (`mkpkg keygen`, `mkpkg ... --sign`): makes a
//! minisign key pair and writes `<package>.minisig` beside a package, as `minisign -S` would.
//! The BootAgent checks them with [`crate::signature`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// File names `mkpkg keygen` writes (minisign's own default names).
pub const SECRET_KEY_FILE: &str = "minisign.key";
/// The public key file.
pub const PUBLIC_KEY_FILE: &str = "minisign.pub";

/// A key pair written by [`keygen`].
#[derive(Debug)]
pub struct KeyFiles {
    /// The secret key (mode 0600, not encrypted).
    pub secret: PathBuf,
    /// The public key file (`minisign.pub` format).
    pub public: PathBuf,
    /// The public key line (`RWQ...`), the BootAgent's `release_key`.
    pub public_line: String,
    /// Its key id as minisign shows it.
    pub id: String,
}

/// Writes a new unencrypted key pair into `dir` (created if needed); an existing key pair
/// is never overwritten.
pub fn keygen(dir: &Path) -> anyhow::Result<KeyFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let secret = dir.join(SECRET_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    for path in [&secret, &public] {
        anyhow::ensure!(
            !path.exists(),
            "{} exists: not overwritten (remove it, or choose another folder)",
            path.display()
        );
    }
    let minisign::KeyPair { pk, sk } =
        minisign::KeyPair::generate_unencrypted_keypair().context("generate a key pair")?;
    let public_line = pk.to_base64();
    let id = id_of(pk.keynum());
    let sk_box = sk
        .to_box(Some(&format!(
            "minisign secret key {id} (not encrypted; made by mkpkg keygen)"
        )))
        .context("encode the secret key")?;
    write_new(&secret, sk_box.into_string().as_bytes(), 0o600)?;
    let pk_text = format!("untrusted comment: minisign public key {id}\n{public_line}\n");
    write_new(&public, pk_text.as_bytes(), 0o644)?;
    Ok(KeyFiles {
        secret,
        public,
        public_line,
        id,
    })
}

/// Creates `path` with `mode` (never replacing a file) and writes `data` to it.
fn write_new(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", path.display()))
}

/// Minisign's key id display: the little-endian key number in upper-case hex, without
/// leading zeros (as `minisign` prints it: `%PRIX64`).
fn id_of(keynum: &[u8]) -> String {
    let mut le = [0u8; 8];
    le.copy_from_slice(&keynum[..8]);
    format!("{:X}", u64::from_le_bytes(le))
}

/// Reads a minisign secret key file: an unencrypted one (`mkpkg keygen`, `minisign -G -W`),
/// or an encrypted one (`minisign -G`, scrypt) with its `password`.
pub fn load_secret_key(
    path: &Path,
    password: Option<String>,
) -> anyhow::Result<minisign::SecretKey> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the secret key {}", path.display()))?;
    let shown = path.display();
    let bytes = text
        .lines()
        .nth(1)
        .and_then(|l| {
            base64::engine::general_purpose::STANDARD
                .decode(l.trim())
                .ok()
        })
        .filter(|b| b.len() == SECRET_KEY_BYTES && b[..2] == *b"Ed")
        .ok_or_else(|| anyhow::anyhow!("{shown}: not a minisign Ed25519 secret key"))?;
    let encrypted = bytes[2..4] != [0, 0];
    let sk_box = minisign::SecretKeyBox::from_string(&text)
        .map_err(|e| anyhow::anyhow!("{shown}: not a minisign secret key: {e}"))?;
    let key = match (encrypted, password) {
        // With a password, the crate never asks on the terminal.
        (true, Some(password)) => sk_box.into_secret_key(Some(password)),
        (true, None) => {
            anyhow::bail!("{shown}: the key is encrypted: give its password with --password-file")
        }
        // `minisign -G -W` (0.11) leaves the checksum of an unencrypted key zero, which the
        // crate calls corrupted; such a key is checked by a probe signature instead.
        (false, _) if bytes[SECRET_KEY_BYTES - 32..].iter().all(|b| *b == 0) => {
            let key = minisign::SecretKey::from_bytes(&bytes)
                .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
            let public = minisign::PublicKey::from_secret_key(&key)
                .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
            minisign::sign(Some(&public), &key, &b"probe"[..], None, None)
                .map_err(|e| anyhow::anyhow!("{shown}: corrupted key ({e})"))?;
            Ok(key)
        }
        (false, _) => sk_box.into_unencrypted_secret_key(),
    };
    key.map_err(|e| anyhow::anyhow!("{shown}: {e}"))
}

/// Size of a decoded secret key: algorithms, KDF salt and limits, key id, key, checksum.
const SECRET_KEY_BYTES: usize = 158;

/// Signs `file` with `key` into `<file>.minisig` (replaced if it exists); returns its path.
/// The trusted comment is minisign's: the time and the file name.
pub fn sign_file(key: &minisign::SecretKey, file: &Path) -> anyhow::Result<PathBuf> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let input = std::fs::File::open(file).with_context(|| format!("open {}", file.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let trusted = format!("timestamp:{now}\tfile:{name}\thashed");
    let untrusted = format!("signature from mkpkg secret key {}", id_of(key.keynum()));
    let signature = minisign::sign(None, key, input, Some(&trusted), Some(&untrusted))
        .map_err(|e| anyhow::anyhow!("sign {}: {e}", file.display()))?;
    let mut out = file.as_os_str().to_owned();
    out.push(crate::signature::SIGNATURE_SUFFIX);
    let out = PathBuf::from(out);
    let tmp = out.with_extension("minisig.tmp");
    std::fs::write(&tmp, signature.into_string())
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, &out).with_context(|| format!("write {}", out.display()))?;
    Ok(out)
}
