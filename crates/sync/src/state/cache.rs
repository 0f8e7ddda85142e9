//! Continuous sync's part of the state (schema 2): the delta links, the source snapshot and the AWS
//! view, written together in one transaction per run so that they always agree.
//!
//! - `delta_links`: where the next delta round of users and of groups starts. Secrets: never printed.
//! - `source_users` / `source_groups`: the snapshot (see `crate::snapshot`); `meta.snapshot =
//!   complete` once a full read filled it.
//! - `aws_users` / `aws_groups`: the AWS view (see `crate::view`); trusted only while
//!   `meta.aws_view = valid`. It is marked `dirty` before any write to AWS and made valid again only
//!   after every write succeeded, so a crash in between makes the next run read AWS.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{OptionalExtension, params};
use scimsync_core::{Current, TargetGroup, TargetUser};
use scimsync_entra::delta::{DeltaLink, DeltaResource, UserRecord};

use super::{StateError, StateStore};
use crate::snapshot::{SnapshotGroup, SourceSnapshot, Touched};

/// What to do with the AWS view in a commit.
#[derive(Debug)]
pub enum ViewWrite<'a> {
    /// Leave it as it is (valid or not).
    Keep,
    /// Do not trust it any more.
    Invalidate,
    /// Store `new` (written as the difference with `old`, when given) and trust it.
    Save { old: Option<&'a Current>, new: &'a Current },
}

/// Everything one run stores at its end, in one transaction.
#[derive(Debug)]
pub struct StateCommit<'a> {
    pub links: Vec<(DeltaResource, &'a DeltaLink)>,
    pub snapshot: Option<(&'a SourceSnapshot, &'a Touched)>,
    pub view: ViewWrite<'a>,
}

fn json_error(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

impl StateStore {
    /// A value of the state's own bookkeeping (delta links, when AWS was last read in full, …).
    pub fn meta(&self, key: &str) -> Result<Option<String>, StateError> {
        self.db(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional())
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StateError> {
        let written = self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        );
        self.db(written).map(drop)
    }

    /// The enterprise application's object id found for `selector` before (saves a Graph call).
    pub fn app_object_id(&self, selector: &str) -> Result<Option<String>, StateError> {
        self.meta(&format!("app:{selector}"))
    }

    pub fn set_app_object_id(&self, selector: &str, id: &str) -> Result<(), StateError> {
        self.set_meta(&format!("app:{selector}"), id)
    }

    /// Where the next delta round of `resource` starts.
    pub fn delta_link(&self, resource: DeltaResource) -> Result<Option<DeltaLink>, StateError> {
        let link: Option<String> = self.db(self
            .conn
            .query_row("SELECT link FROM delta_links WHERE resource = ?1", [resource.name()], |r| r.get(0))
            .optional())?;
        Ok(link.map(DeltaLink::from_stored))
    }

    /// The source snapshot, when a full read filled it.
    pub fn load_snapshot(&self) -> Result<Option<SourceSnapshot>, StateError> {
        if self.meta("snapshot")?.as_deref() != Some("complete") {
            return Ok(None);
        }
        let mut snapshot = SourceSnapshot::default();
        let mut statement = self.db(self.conn.prepare("SELECT id, record FROM source_users"))?;
        let rows =
            self.db(statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))))?;
        for row in rows {
            let (id, record) = self.db(row)?;
            let record: UserRecord = self.db(serde_json::from_str(&record).map_err(json_error))?;
            snapshot.users.insert(id, record);
        }
        let mut statement =
            self.db(self.conn.prepare("SELECT id, display_name, members FROM source_groups"))?;
        let rows = self.db(statement.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        }))?;
        for row in rows {
            let (id, display_name, members) = self.db(row)?;
            let members = self.db(serde_json::from_str(&members).map_err(json_error))?;
            snapshot.groups.insert(id, SnapshotGroup { display_name, members });
        }
        Ok(Some(snapshot))
    }

    /// The AWS view, when it can be trusted.
    pub fn load_view(&self) -> Result<Option<Current>, StateError> {
        if self.meta("aws_view")?.as_deref() != Some("valid") {
            return Ok(None);
        }
        let mut current = Current::default();
        let mut statement = self.db(self.conn.prepare("SELECT user FROM aws_users ORDER BY rowid"))?;
        let rows = self.db(statement.query_map([], |r| r.get::<_, String>(0)))?;
        for row in rows {
            let user: TargetUser = self.db(serde_json::from_str(&self.db(row)?).map_err(json_error))?;
            current.users.push(user);
        }
        let mut statement = self.db(self.conn.prepare("SELECT grp FROM aws_groups ORDER BY rowid"))?;
        let rows = self.db(statement.query_map([], |r| r.get::<_, String>(0)))?;
        for row in rows {
            let group: TargetGroup = self.db(serde_json::from_str(&self.db(row)?).map_err(json_error))?;
            current.groups.push(group);
        }
        Ok(Some(current))
    }

    /// Marks the AWS view untrusted: called before writing to AWS.
    pub fn invalidate_view(&self) -> Result<(), StateError> {
        self.set_meta("aws_view", "dirty")
    }

    /// Stores a run's delta links, snapshot changes and AWS view in one transaction.
    pub fn commit(&self, commit: &StateCommit<'_>) -> Result<(), StateError> {
        let run = || -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            for (resource, link) in &commit.links {
                tx.execute(
                    "INSERT INTO delta_links (resource, link) VALUES (?1, ?2)
                     ON CONFLICT (resource) DO UPDATE SET link = ?2",
                    params![resource.name(), link.expose_for_storage()],
                )?;
            }
            if let Some((snapshot, touched)) = commit.snapshot {
                write_snapshot(&tx, snapshot, touched)?;
            }
            match commit.view {
                ViewWrite::Keep => {}
                ViewWrite::Invalidate => set_meta_tx(&tx, "aws_view", "dirty")?,
                ViewWrite::Save { old, new } => {
                    write_view(&tx, old, new)?;
                    set_meta_tx(&tx, "aws_view", "valid")?;
                }
            }
            tx.commit()
        };
        self.db(run())
    }
}

fn set_meta_tx(tx: &rusqlite::Transaction<'_>, key: &str, value: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
        params![key, value],
    )
    .map(drop)
}

fn write_snapshot(
    tx: &rusqlite::Transaction<'_>,
    snapshot: &SourceSnapshot,
    touched: &Touched,
) -> rusqlite::Result<()> {
    let put_user = |id: &str| -> rusqlite::Result<()> {
        match snapshot.users.get(id) {
            Some(record) => {
                let text = serde_json::to_string(record).map_err(json_error)?;
                tx.execute(
                    "INSERT INTO source_users (id, record) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET record = ?2",
                    params![id, text],
                )?;
            }
            None => {
                tx.execute("DELETE FROM source_users WHERE id = ?1", [id])?;
            }
        }
        Ok(())
    };
    let put_group = |id: &str| -> rusqlite::Result<()> {
        match snapshot.groups.get(id) {
            Some(group) => {
                let members = serde_json::to_string(&group.members).map_err(json_error)?;
                tx.execute(
                    "INSERT INTO source_groups (id, display_name, members) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET display_name = ?2, members = ?3",
                    params![id, group.display_name, members],
                )?;
            }
            None => {
                tx.execute("DELETE FROM source_groups WHERE id = ?1", [id])?;
            }
        }
        Ok(())
    };
    if touched.replace_users {
        tx.execute("DELETE FROM source_users", [])?;
        for id in snapshot.users.keys() {
            put_user(id)?;
        }
    } else {
        for id in &touched.users {
            put_user(id)?;
        }
    }
    if touched.replace_groups {
        tx.execute("DELETE FROM source_groups", [])?;
        for id in snapshot.groups.keys() {
            put_group(id)?;
        }
    } else {
        for id in &touched.groups {
            put_group(id)?;
        }
    }
    if touched.replace_users && touched.replace_groups {
        set_meta_tx(tx, "snapshot", "complete")?;
    }
    Ok(())
}

fn write_view(tx: &rusqlite::Transaction<'_>, old: Option<&Current>, new: &Current) -> rusqlite::Result<()> {
    let Some(old) = old else {
        tx.execute("DELETE FROM aws_users", [])?;
        tx.execute("DELETE FROM aws_groups", [])?;
        for user in &new.users {
            let text = serde_json::to_string(user).map_err(json_error)?;
            tx.execute(
                "INSERT OR REPLACE INTO aws_users (id, user) VALUES (?1, ?2)",
                params![user.id, text],
            )?;
        }
        for group in &new.groups {
            let text = serde_json::to_string(group).map_err(json_error)?;
            tx.execute(
                "INSERT OR REPLACE INTO aws_groups (id, grp) VALUES (?1, ?2)",
                params![group.id, text],
            )?;
        }
        return Ok(());
    };
    // Only what changed.
    let old_users: HashMap<&str, &TargetUser> = old.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let new_users: BTreeMap<&str, &TargetUser> = new.users.iter().map(|u| (u.id.as_str(), u)).collect();
    for (id, user) in &new_users {
        if old_users.get(id) != Some(user) {
            let text = serde_json::to_string(user).map_err(json_error)?;
            tx.execute(
                "INSERT INTO aws_users (id, user) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET user = ?2",
                params![id, text],
            )?;
        }
    }
    for id in old_users.keys().filter(|id| !new_users.contains_key(*id)) {
        tx.execute("DELETE FROM aws_users WHERE id = ?1", [id])?;
    }
    let old_groups: HashMap<&str, &TargetGroup> = old.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let new_groups: BTreeMap<&str, &TargetGroup> = new.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    for (id, group) in &new_groups {
        if old_groups.get(id) != Some(group) {
            let text = serde_json::to_string(group).map_err(json_error)?;
            tx.execute(
                "INSERT INTO aws_groups (id, grp) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET grp = ?2",
                params![id, text],
            )?;
        }
    }
    for id in old_groups.keys().filter(|id| !new_groups.contains_key(*id)) {
        tx.execute("DELETE FROM aws_groups WHERE id = ?1", [id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateIdentity;

    #[test]
    fn links_snapshot_and_view_survive_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        let identity = StateIdentity { tenant_id: "t".into(), scim_url: "https://x/scim/v2".into() };
        let link = DeltaLink::from_stored("https://graph/v1.0/users/delta?$deltatoken=abc".into());
        let mut snapshot = SourceSnapshot::default();
        snapshot
            .groups
            .insert("g".into(), SnapshotGroup { display_name: "G".into(), members: Default::default() });
        let touched = Touched { replace_users: true, replace_groups: true, ..Touched::default() };
        let view = Current {
            users: vec![],
            groups: vec![TargetGroup {
                id: "ag".into(),
                external_id: Some("g".into()),
                display_name: "G".into(),
                members: None,
            }],
        };
        {
            let store = StateStore::open(&path, &identity).expect("open");
            assert!(store.load_snapshot().expect("read").is_none());
            assert!(store.load_view().expect("read").is_none());
            store
                .commit(&StateCommit {
                    links: vec![(DeltaResource::Users, &link)],
                    snapshot: Some((&snapshot, &touched)),
                    view: ViewWrite::Save { old: None, new: &view },
                })
                .expect("commit");
        }
        let store = StateStore::open(&path, &identity).expect("reopen");
        assert_eq!(store.load_snapshot().expect("read"), Some(snapshot));
        assert_eq!(store.load_view().expect("read"), Some(view));
        let stored = store.delta_link(DeltaResource::Users).expect("read").expect("link");
        assert_eq!(stored.expose_for_storage(), link.expose_for_storage());
        assert!(store.delta_link(DeltaResource::Groups).expect("read").is_none());
        store.invalidate_view().expect("dirty");
        assert!(store.load_view().expect("read").is_none());
    }
}
