//! The offsets database, `state_dir/logagent.db` (folder 0700, file 0600): one row per file
//! generation (source, 16-hex id, device, inode, fingerprint of its first bytes, path, and the
//! offset Polaris has acknowledged up to). Rows change only after an acknowledgement (or when
//! a generation is born or retired), in one transaction per batch.

use std::path::Path;

use anyhow::Context as _;
use rusqlite::{Connection, params};

/// A saved file generation.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedFile {
    /// The source's name.
    pub source: String,
    /// The generation's id (16 hex digits).
    pub id: String,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// How many first bytes the fingerprint covers.
    pub fp_len: u64,
    /// SHA-256 (hex, first 16 bytes) of those bytes.
    pub fp: String,
    /// The path it was last seen at.
    pub path: String,
    /// Bytes acknowledged.
    pub offset: u64,
}

/// The open database.
pub struct State {
    db: Connection,
}

impl State {
    /// Opens (creating) the database in `dir`, made private.
    pub fn open(dir: &Path) -> anyhow::Result<State> {
        agentkit::private::private_dir(dir)
            .with_context(|| format!("create state folder {}", dir.display()))?;
        let path = dir.join("logagent.db");
        if !path.exists() {
            agentkit::private::create_private(&path)
                .with_context(|| format!("create {}", path.display()))?;
        }
        agentkit::private::narrow(&path, agentkit::private::FILE_MODE)?;
        let db = Connection::open(&path).with_context(|| format!("open {}", path.display()))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS files (
                 id TEXT PRIMARY KEY,
                 source TEXT NOT NULL,
                 dev INTEGER NOT NULL,
                 ino INTEGER NOT NULL,
                 fp_len INTEGER NOT NULL,
                 fp TEXT NOT NULL,
                 path TEXT NOT NULL,
                 offset INTEGER NOT NULL
             );",
        )
        .context("prepare the offsets database")?;
        for side in ["logagent.db-wal", "logagent.db-shm"] {
            agentkit::private::narrow(&dir.join(side), agentkit::private::FILE_MODE)?;
        }
        Ok(State { db })
    }

    /// Every saved generation.
    pub fn load(&self) -> anyhow::Result<Vec<SavedFile>> {
        let mut statement = self
            .db
            .prepare("SELECT source, id, dev, ino, fp_len, fp, path, offset FROM files")?;
        let rows = statement.query_map([], |row| {
            Ok(SavedFile {
                source: row.get(0)?,
                id: row.get(1)?,
                dev: row.get::<_, i64>(2)? as u64,
                ino: row.get::<_, i64>(3)? as u64,
                fp_len: row.get::<_, i64>(4)? as u64,
                fp: row.get(5)?,
                path: row.get(6)?,
                offset: row.get::<_, i64>(7)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Saves generations (new, or with a new offset, path or fingerprint) and forgets others,
    /// in one transaction.
    pub fn save(&mut self, files: &[SavedFile], forget: &[String]) -> anyhow::Result<()> {
        let tx = self.db.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO files (id, source, dev, ino, fp_len, fp, path, offset)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for f in files {
                put.execute(params![
                    f.id,
                    f.source,
                    f.dev as i64,
                    f.ino as i64,
                    f.fp_len as i64,
                    f.fp,
                    f.path,
                    f.offset as i64
                ])?;
            }
            let mut drop = tx.prepare_cached("DELETE FROM files WHERE id = ?1")?;
            for id in forget {
                drop.execute(params![id])?;
            }
        }
        tx.commit().context("commit offsets")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn saves_reloads_and_forgets_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let file = SavedFile {
            source: "s".into(),
            id: "0123456789abcdef".into(),
            dev: 1,
            ino: u64::MAX / 2,
            fp_len: 1024,
            fp: "ab".into(),
            path: "/x".into(),
            offset: 42,
        };
        {
            let mut state = State::open(&state_dir).unwrap();
            state.save(std::slice::from_ref(&file), &[]).unwrap();
        }
        let mut state = State::open(&state_dir).unwrap();
        assert_eq!(state.load().unwrap(), std::slice::from_ref(&file));
        state.save(&[], std::slice::from_ref(&file.id)).unwrap();
        assert!(state.load().unwrap().is_empty());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state_dir), 0o700);
        assert_eq!(mode(&state_dir.join("logagent.db")), 0o600);
    }
}
