//! The state store: which AWS objects scimsync manages (created or adopted) and for which Entra
//! object, and a journal of runs. An embedded SQLite database, one per target, held by one writer.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use scimsync_core::Managed;
use scimsync_core::plan::ObjectKind;

mod cache;
pub use cache::{StateCommit, ViewWrite};

/// The newest schema this build writes; older databases are migrated forward on open.
const SCHEMA_VERSION: i64 = 3;

const MIGRATIONS: &[&str] = &[
    // 1: the id map and the run journal.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE managed (
         kind TEXT NOT NULL CHECK (kind IN ('user', 'group')),
         aws_id TEXT NOT NULL,
         external_id TEXT NOT NULL,
         name TEXT NOT NULL,
         recorded_at TEXT NOT NULL,
         PRIMARY KEY (kind, aws_id)
     );
     CREATE TABLE runs (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         started_at TEXT NOT NULL,
         ended_at TEXT,
         command TEXT NOT NULL,
         outcome TEXT,
         summary TEXT
     );",
    // 2: continuous sync — delta links (secrets), the source snapshot, and the AWS view (see cache.rs).
    "CREATE TABLE delta_links (resource TEXT PRIMARY KEY, link TEXT NOT NULL);
     CREATE TABLE source_users (id TEXT PRIMARY KEY, record TEXT NOT NULL);
     CREATE TABLE source_groups (id TEXT PRIMARY KEY, display_name TEXT NOT NULL, members TEXT NOT NULL);
     CREATE TABLE aws_users (id TEXT PRIMARY KEY, user TEXT NOT NULL);
     CREATE TABLE aws_groups (id TEXT PRIMARY KEY, grp TEXT NOT NULL);",
    // 3: since when a managed object is out of scope (seconds since the Unix epoch), for the grace
    // period before a configured deletion. NULL while in scope.
    "ALTER TABLE managed ADD COLUMN out_of_scope_since INTEGER;",
];

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state {path}: {source}")]
    Database { path: String, source: rusqlite::Error },
    #[error("state {path}: cannot open the lock file: {source}")]
    Lock { path: String, source: std::io::Error },
    #[error(
        "state {path} is in use by another scimsync run against the same target; wait for it to finish \
         (only one writer at a time is allowed)"
    )]
    Busy { path: String },
    #[error(
        "state {path} belongs to {found}, not to {expected}; pass --state with another path for this \
         target, or delete the file if the old target is gone"
    )]
    OtherTarget { path: String, found: String, expected: String },
    #[error(
        "state {path} was written by a newer scimsync (schema {found}, this build knows {known}); upgrade scimsync"
    )]
    TooNew { path: String, found: i64, known: i64 },
    #[error(
        "state {path} has schema {found} and this build reads schema {known}: run `scimsync sync` once to \
         bring it up to date (or upgrade scimsync if the state is newer)"
    )]
    OtherSchema { path: String, found: i64, known: i64 },
}

/// What a state belongs to: one Entra tenant and one SCIM endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateIdentity {
    pub tenant_id: String,
    pub scim_url: String,
}

impl StateIdentity {
    fn describe(&self) -> String {
        format!("tenant {} → {}", self.tenant_id, self.scim_url)
    }
}

/// One entry of the run journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub started_at: String,
    pub command: String,
    pub outcome: Option<String>,
    /// JSON.
    pub summary: Option<String>,
}

pub struct StateStore {
    conn: Connection,
    path: String,
    // Held for the life of the store: the single-writer lock.
    _lock: Option<File>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "user",
        ObjectKind::Group => "group",
    }
}

impl StateStore {
    /// Opens (creating if needed) the state at `path`, takes the writer lock, migrates the schema and
    /// checks that the state belongs to `identity`.
    pub fn open(path: &Path, identity: &StateIdentity) -> Result<Self, StateError> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Err(StateError::Lock {
                path: shown,
                source: std::io::Error::other(
                    "this is a directory; give the path of a file in it, e.g. state.db",
                ),
            });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_dir(dir).map_err(|source| StateError::Lock { path: shown.clone(), source })?;
        }
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StateError::Lock { path: shown.clone(), source })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StateError::Busy { path: shown }),
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StateError::Lock { path: shown, source });
            }
        }
        let conn =
            Connection::open(path).map_err(|source| StateError::Database { path: shown.clone(), source })?;
        // The state holds delta links, which are secrets: readable by its owner only. SQLite gives its
        // -wal and -shm files the database file's mode.
        private_file(path).map_err(|source| StateError::Lock { path: shown.clone(), source })?;
        let mut store = StateStore { conn, path: shown, _lock: Some(lock) };
        store.prepare(identity)?;
        Ok(store)
    }

    /// Opens the state to read it only, without the writer lock, so that `plan` works while `sync` or
    /// `watch` runs. A state that does not exist yet reads as empty; nothing is created.
    pub fn open_read_only(path: &Path, identity: &StateIdentity) -> Result<Self, StateError> {
        if !path.exists() {
            return StateStore::in_memory(identity);
        }
        let shown = path.display().to_string();
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|source| StateError::Database { path: shown.clone(), source })?;
        let store = StateStore { conn, path: shown, _lock: None };
        let version: i64 = store.db(store.conn.query_row("PRAGMA user_version", [], |r| r.get(0)))?;
        if version != SCHEMA_VERSION {
            return Err(StateError::OtherSchema {
                path: store.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        let expected = identity.describe();
        let found: Option<String> = store.db(store
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'identity'", [], |r| r.get(0))
            .optional())?;
        match found {
            Some(found) if found != expected => {
                Err(StateError::OtherTarget { path: store.path.clone(), found, expected })
            }
            _ => Ok(store),
        }
    }

    /// A state that lives in memory only (tests, `demo`, `plan` without a state file).
    pub fn in_memory(identity: &StateIdentity) -> Result<Self, StateError> {
        let path = ":memory:".to_string();
        let conn = Connection::open_in_memory()
            .map_err(|source| StateError::Database { path: path.clone(), source })?;
        let mut store = StateStore { conn, path, _lock: None };
        store.prepare(identity)?;
        Ok(store)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn db<T>(&self, result: rusqlite::Result<T>) -> Result<T, StateError> {
        result.map_err(|source| StateError::Database { path: self.path.clone(), source })
    }

    fn prepare(&mut self, identity: &StateIdentity) -> Result<(), StateError> {
        let pragmas = self.conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
        self.db(pragmas)?;
        let version: i64 = self.db(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)))?;
        if version > SCHEMA_VERSION {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let next = index as i64 + 1;
            let path = self.path.clone();
            let migrate = |conn: &mut Connection| -> rusqlite::Result<()> {
                let tx = conn.transaction()?;
                tx.execute_batch(migration)?;
                tx.pragma_update(None, "user_version", next)?;
                tx.commit()
            };
            migrate(&mut self.conn).map_err(|source| StateError::Database { path, source })?;
        }
        let expected = identity.describe();
        let found: Option<String> = self.db(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'identity'", [], |r| r.get(0))
            .optional())?;
        match found {
            Some(found) if found != expected => {
                Err(StateError::OtherTarget { path: self.path.clone(), found, expected })
            }
            Some(_) => Ok(()),
            None => {
                let inserted =
                    self.conn.execute("INSERT INTO meta (key, value) VALUES ('identity', ?1)", [&expected]);
                self.db(inserted).map(|_| ())
            }
        }
    }

    /// The objects scimsync manages.
    pub fn managed(&self) -> Result<Managed, StateError> {
        let mut managed = Managed::default();
        let mut statement =
            self.db(self.conn.prepare("SELECT kind, aws_id, external_id, out_of_scope_since FROM managed"))?;
        let rows = self.db(statement.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        }))?;
        for row in rows {
            let (kind, aws_id, external_id, since) = self.db(row)?;
            let since = since.map(|s| s.max(0) as u64);
            match kind.as_str() {
                "user" => {
                    if let Some(since) = since {
                        managed.user_out_of_scope_since.insert(aws_id.clone(), since);
                    }
                    managed.users.insert(aws_id, external_id)
                }
                _ => {
                    if let Some(since) = since {
                        managed.group_out_of_scope_since.insert(aws_id.clone(), since);
                    }
                    managed.groups.insert(aws_id, external_id)
                }
            };
        }
        Ok(managed)
    }

    /// Records that scimsync manages `aws_id` for `external_id`. Each call is its own transaction, so a
    /// crash loses at most the change in flight.
    pub fn record(
        &self,
        kind: ObjectKind,
        aws_id: &str,
        external_id: &str,
        name: &str,
    ) -> Result<(), StateError> {
        let written = self.conn.execute(
            "INSERT INTO managed (kind, aws_id, external_id, name, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (kind, aws_id) DO UPDATE SET external_id = ?3, name = ?4, recorded_at = ?5",
            params![kind_name(kind), aws_id, external_id, name, now()],
        );
        self.db(written).map(|_| ())
    }

    /// Records which managed objects are out of scope: each of `out` keeps the time it was first seen
    /// out (or takes `now`), every other one is in scope again. One transaction.
    pub fn record_scope(&self, out: &[(ObjectKind, String)], now: u64) -> Result<(), StateError> {
        let path = self.path.clone();
        let write = |conn: &Connection| -> rusqlite::Result<()> {
            let tx = conn.unchecked_transaction()?;
            tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS scope_out (kind TEXT NOT NULL, aws_id TEXT NOT NULL)",
                [],
            )?;
            tx.execute("DELETE FROM temp.scope_out", [])?;
            for (kind, id) in out {
                tx.execute(
                    "INSERT INTO temp.scope_out (kind, aws_id) VALUES (?1, ?2)",
                    params![kind_name(*kind), id],
                )?;
            }
            tx.execute(
                "UPDATE managed SET out_of_scope_since = COALESCE(out_of_scope_since, ?1)
                 WHERE EXISTS (SELECT 1 FROM temp.scope_out o WHERE o.kind = managed.kind AND o.aws_id = managed.aws_id)",
                [now as i64],
            )?;
            tx.execute(
                "UPDATE managed SET out_of_scope_since = NULL WHERE out_of_scope_since IS NOT NULL AND NOT EXISTS
                 (SELECT 1 FROM temp.scope_out o WHERE o.kind = managed.kind AND o.aws_id = managed.aws_id)",
                [],
            )?;
            tx.execute("DELETE FROM temp.scope_out", [])?;
            tx.commit()
        };
        write(&self.conn).map_err(|source| StateError::Database { path, source })
    }

    /// Forgets an object that was deleted from AWS.
    pub fn forget(&self, kind: ObjectKind, aws_id: &str) -> Result<(), StateError> {
        let deleted = self
            .conn
            .execute("DELETE FROM managed WHERE kind = ?1 AND aws_id = ?2", params![kind_name(kind), aws_id]);
        self.db(deleted).map(|_| ())
    }

    /// Starts a journal entry for a run; returns its id.
    pub fn begin_run(&self, command: &str) -> Result<i64, StateError> {
        let inserted = self
            .conn
            .execute("INSERT INTO runs (started_at, command) VALUES (?1, ?2)", params![now(), command]);
        self.db(inserted)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Closes a journal entry with its outcome and a JSON summary.
    pub fn finish_run(&self, run: i64, outcome: &str, summary: &serde_json::Value) -> Result<(), StateError> {
        let updated = self.conn.execute(
            "UPDATE runs SET ended_at = ?1, outcome = ?2, summary = ?3 WHERE id = ?4",
            params![now(), outcome, summary.to_string(), run],
        );
        self.db(updated).map(|_| ())
    }

    /// The most recent runs, newest first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let mut statement = self.db(self
            .conn
            .prepare("SELECT started_at, command, outcome, summary FROM runs ORDER BY id DESC LIMIT ?1"))?;
        let rows = self.db(statement.query_map([limit as i64], |r| {
            Ok(RunRecord {
                started_at: r.get(0)?,
                command: r.get(1)?,
                outcome: r.get(2)?,
                summary: r.get(3)?,
            })
        }))?;
        rows.map(|row| self.db(row)).collect()
    }
}

/// Creates `dir` (and its parents) if needed; a directory created here is private (0700 on Unix).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes `file` readable and writable by its owner only (Unix).
fn private_file(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> StateIdentity {
        StateIdentity { tenant_id: "t1".into(), scim_url: "https://scim.example/abc/scim/v2".into() }
    }

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        {
            let store = StateStore::open(&path, &identity()).expect("open");
            store.record(ObjectKind::User, "aws-1", "entra-1", "ada").expect("record");
            store.record(ObjectKind::Group, "aws-g", "entra-g", "Admins").expect("record");
            store.record(ObjectKind::User, "aws-2", "entra-2", "bob").expect("record");
            store.forget(ObjectKind::User, "aws-2").expect("forget");
        }
        let store = StateStore::open(&path, &identity()).expect("reopen");
        let managed = store.managed().expect("read");
        assert_eq!(managed.users.len(), 1);
        assert_eq!(managed.users["aws-1"], "entra-1");
        assert_eq!(managed.groups["aws-g"], "entra-g");
    }

    #[test]
    fn out_of_scope_times_are_kept_until_back_in_scope() {
        let store = StateStore::in_memory(&identity()).expect("open");
        store.record(ObjectKind::User, "aws-1", "entra-1", "ada").expect("record");
        store.record(ObjectKind::User, "aws-2", "entra-2", "bob").expect("record");
        store.record(ObjectKind::Group, "aws-g", "entra-g", "Admins").expect("record");
        let out = vec![(ObjectKind::User, "aws-1".to_string()), (ObjectKind::Group, "aws-g".to_string())];
        store.record_scope(&out, 100).expect("scope");
        // A later run keeps the first time.
        store.record_scope(&out, 200).expect("scope");
        let managed = store.managed().expect("read");
        assert_eq!(managed.user_out_of_scope_since.get("aws-1"), Some(&100));
        assert_eq!(managed.group_out_of_scope_since.get("aws-g"), Some(&100));
        assert!(!managed.user_out_of_scope_since.contains_key("aws-2"));
        // Back in scope: forgotten.
        store.record_scope(&[(ObjectKind::Group, "aws-g".to_string())], 300).expect("scope");
        let managed = store.managed().expect("read");
        assert!(managed.user_out_of_scope_since.is_empty());
        assert_eq!(managed.group_out_of_scope_since.get("aws-g"), Some(&100));
    }

    #[test]
    fn a_version_1_state_is_migrated() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(MIGRATIONS[0]).expect("v1");
            conn.pragma_update(None, "user_version", 1).expect("version");
            conn.execute(
                "INSERT INTO managed (kind, aws_id, external_id, name, recorded_at) VALUES ('user', 'a', 'e', 'n', 't')",
                [],
            )
            .expect("row");
        }
        let store = StateStore::open(&path, &identity()).expect("migrates");
        store.record_scope(&[(ObjectKind::User, "a".to_string())], 42).expect("scope");
        assert_eq!(store.managed().expect("read").user_out_of_scope_since.get("a"), Some(&42));
    }

    #[test]
    fn a_reader_needs_no_lock_and_creates_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        let empty = StateStore::open_read_only(&path, &identity()).expect("absent state reads as empty");
        assert!(empty.managed().expect("read").users.is_empty());
        assert!(!path.exists(), "a reader must not create the state");
        let writer = StateStore::open(&path, &identity()).expect("open");
        writer.record(ObjectKind::User, "aws-1", "entra-1", "ada").expect("record");
        let reader = StateStore::open_read_only(&path, &identity()).expect("a reader beside the writer");
        assert_eq!(reader.managed().expect("read").users["aws-1"], "entra-1");
        let other = StateIdentity { tenant_id: "t2".into(), ..identity() };
        assert!(matches!(StateStore::open_read_only(&path, &other), Err(StateError::OtherTarget { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn the_state_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("new").join("state.db");
        drop(StateStore::open(&path, &identity()).expect("open"));
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("dir")), 0o700);
        let err = StateStore::open(dir.path(), &identity()).expect_err("a directory");
        assert!(err.to_string().contains("directory"), "{err}");
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        let _first = StateStore::open(&path, &identity()).expect("open");
        let second = StateStore::open(&path, &identity()).expect_err("second writer");
        assert!(matches!(second, StateError::Busy { .. }), "{second}");
        assert!(second.to_string().contains("only one writer"));
    }

    #[test]
    fn a_state_of_another_target_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        drop(StateStore::open(&path, &identity()).expect("open"));
        let other = StateIdentity { tenant_id: "t2".into(), ..identity() };
        let err = StateStore::open(&path, &other).expect_err("other tenant");
        assert!(matches!(err, StateError::OtherTarget { .. }), "{err}");
    }

    #[test]
    fn the_run_journal_keeps_outcomes() {
        let store = StateStore::in_memory(&identity()).expect("open");
        let run = store.begin_run("sync").expect("begin");
        store.finish_run(run, "ok", &serde_json::json!({"create": 3})).expect("finish");
        let runs = store.recent_runs(5).expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].outcome.as_deref(), Some("ok"));
        assert!(runs[0].summary.as_deref().unwrap_or_default().contains("\"create\":3"));
    }
}
