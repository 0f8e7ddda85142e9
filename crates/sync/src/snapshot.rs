//! What scimsync knows of the source between runs: every user (its Graph properties) and every group
//! with its DIRECT members, kept up to date by Graph delta rounds. An incremental run rebuilds the
//! scope from it (nested groups flattened by the core), so a change deep in a nesting reaches every
//! assigned group above it.

use std::collections::{BTreeMap, BTreeSet};

use scimsync_core::{Assignment, Directory, MemberRef, SourceGroup};
use scimsync_entra::EntraError;
use scimsync_entra::delta::{Change, DeltaResource, DeltaRound, UserRecord};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotGroup {
    pub display_name: String,
    pub members: BTreeSet<MemberRef>,
}

/// The source as the last delta rounds left it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceSnapshot {
    pub users: BTreeMap<String, UserRecord>,
    pub groups: BTreeMap<String, SnapshotGroup>,
}

/// What a round changed, for the state to write only that.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    pub replace_users: bool,
    pub replace_groups: bool,
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
}

impl Touched {
    pub fn is_empty(&self) -> bool {
        !self.replace_users && !self.replace_groups && self.users.is_empty() && self.groups.is_empty()
    }
}

impl SourceSnapshot {
    /// Applies one delta round; an initial round replaces that collection. Returns how many changes
    /// it carried.
    pub fn apply(&mut self, round: DeltaRound, touched: &mut Touched) -> usize {
        let count = round.changes.len();
        if round.initial {
            match round.resource {
                DeltaResource::Users => {
                    self.users.clear();
                    touched.replace_users = true;
                }
                DeltaResource::Groups => {
                    self.groups.clear();
                    touched.replace_groups = true;
                }
            }
        }
        for change in round.changes {
            match change {
                Change::UserUpsert(record) => {
                    let id = record.id().to_owned();
                    match self.users.get_mut(&id) {
                        Some(known) => known.merge(record),
                        None => {
                            self.users.insert(id.clone(), record);
                        }
                    }
                    touched.users.insert(id);
                }
                Change::UserRemoved { id } => {
                    self.users.remove(&id);
                    self.drop_member(&id, touched);
                    touched.users.insert(id);
                }
                Change::GroupUpsert { id, display_name } => {
                    let group = self.groups.entry(id.clone()).or_default();
                    if let Some(name) = display_name {
                        group.display_name = name;
                    }
                    touched.groups.insert(id);
                }
                Change::GroupRemoved { id } => {
                    self.groups.remove(&id);
                    self.drop_member(&id, touched);
                    touched.groups.insert(id);
                }
                Change::MemberAdded { group, member } => {
                    let entry = self.groups.entry(group.clone()).or_default();
                    entry.members.retain(|m| m.id != member.id);
                    entry.members.insert(member);
                    touched.groups.insert(group);
                }
                Change::MemberRemoved { group, member_id } => {
                    if let Some(entry) = self.groups.get_mut(&group) {
                        entry.members.retain(|m| m.id != member_id);
                    }
                    touched.groups.insert(group);
                }
            }
        }
        count
    }

    /// A deleted object is no group's member any more (Graph says so too, but not always at once).
    fn drop_member(&mut self, id: &str, touched: &mut Touched) {
        for (group_id, group) in &mut self.groups {
            if group.members.iter().any(|m| m.id == id) {
                group.members.retain(|m| m.id != id);
                touched.groups.insert(group_id.clone());
            }
        }
    }

    /// The source as the core reads it. Fails when a user cannot be read (never a partial directory).
    pub fn directory(
        &self,
        assignments: Vec<Assignment>,
        filtered_groups: Vec<String>,
    ) -> Result<Directory, EntraError> {
        let users = self.users.values().map(UserRecord::to_source).collect::<Result<Vec<_>, _>>()?;
        let groups = self
            .groups
            .iter()
            .map(|(id, g)| SourceGroup {
                id: id.clone(),
                display_name: g.display_name.clone(),
                members: g.members.iter().cloned().collect(),
            })
            .collect();
        let mut directory = Directory { users, groups, assignments, ..Directory::default() };
        directory.filtered_groups = filtered_groups;
        Ok(directory)
    }
}
