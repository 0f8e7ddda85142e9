//! The plan: the exact difference between what AWS should hold and what it holds, as a pure function.
//!
//! Objects are matched by externalId (the Entra object id), then by the state's id map. An AWS object
//! that holds a wanted userName or group name under another identity is a conflict unless adoption by
//! name is switched on. Nothing that scimsync does not manage is ever changed or removed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::attr::{AttrChange, AttrValue, UserAttr, diff_user};
use crate::mapping::{Rejection, map_group_name, map_user};
use crate::model::{Current, DesiredGroup, DesiredUser, Directory, TargetGroup, TargetUser};
use crate::scope::{ScopeOptions, resolve};

/// What happens to a managed object that has left scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemovalMode {
    /// Users are disabled (active=false) and groups emptied: AWS account assignments survive (default).
    #[default]
    Disable,
    /// Users and groups are deleted. Deleting destroys their AWS account assignments.
    Delete,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    pub removal: RemovalMode,
    /// Take over an AWS object that holds a wanted userName or group name under another or no
    /// externalId, instead of reporting a conflict.
    pub adopt_by_name: bool,
}

/// The objects scimsync manages: AWS id → the Entra object id it was created or adopted for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    pub users: HashMap<String, String>,
    pub groups: HashMap<String, String>,
}

/// What scimsync wants AWS to hold, derived from a complete read of the source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    pub users: Vec<DesiredUser>,
    pub groups: Vec<DesiredGroup>,
    /// In-scope objects that cannot be sent to AWS, with the reasons.
    pub rejected: Vec<Rejection>,
    /// Group members that are neither users nor groups, by Graph type.
    pub skipped_members: BTreeMap<String, usize>,
}

/// Scopes and maps a directory.
pub fn desired(directory: &Directory, scope: &ScopeOptions) -> Desired {
    let scope = resolve(directory, scope);
    let mut out = Desired { skipped_members: scope.skipped_members.clone(), ..Default::default() };
    for user in directory.users.iter().filter(|u| scope.users.contains(&u.id)) {
        match map_user(user) {
            Ok(desired) => out.users.push(desired),
            Err(rejection) => out.rejected.push(rejection),
        }
    }
    let mapped: BTreeSet<&str> = out.users.iter().map(|u| u.external_id.as_str()).collect();
    for group in directory.groups.iter() {
        let Some(members) = scope.groups.get(&group.id) else { continue };
        match map_group_name(&group.id, &group.display_name) {
            Ok(display_name) => out.groups.push(DesiredGroup {
                external_id: group.id.clone(),
                display_name,
                members: members.iter().filter(|m| mapped.contains(m.as_str())).cloned().collect(),
            }),
            Err(rejection) => out.rejected.push(rejection),
        }
    }
    out.users.sort_by(|a, b| a.values.user_name.cmp(&b.values.user_name));
    out.groups.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    out
}

/// A reference to an AWS object that may not exist yet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Target {
    /// The AWS id of an object that exists.
    Existing(String),
    /// The Entra object id of an object this plan creates.
    New(String),
}

/// A member named in a member change: who, and what a person knows them by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MemberName {
    pub target: Target,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUpdate {
    pub id: String,
    pub external_id: String,
    pub user_name: String,
    pub changes: Vec<AttrChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRemoval {
    pub id: String,
    pub user_name: String,
    pub mode: RemovalMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCreate {
    pub external_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupUpdate {
    pub id: String,
    pub external_id: String,
    pub old_name: String,
    /// The new display name, when it changes.
    pub display_name: Option<String>,
    /// True when externalId must be (re)written.
    pub set_external_id: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRemoval {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChange {
    pub group: Target,
    pub group_name: String,
    pub add: Vec<MemberName>,
    pub remove: Vec<MemberName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    User,
    Group,
}

/// An AWS object that becomes managed without a write of its own: matched by externalId, or adopted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adoption {
    pub kind: ObjectKind,
    pub id: String,
    pub external_id: String,
    pub name: String,
}

/// A wanted object that cannot be applied because AWS holds its name under another identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub kind: ObjectKind,
    pub external_id: String,
    pub name: String,
    /// The AWS object in the way.
    pub holder_id: String,
    pub reason: String,
}

/// An AWS object scimsync does not manage and leaves alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmanaged {
    pub kind: ObjectKind,
    pub id: String,
    pub name: String,
}

/// Everything a sync would do, in the order it is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub user_creates: Vec<DesiredUser>,
    pub user_updates: Vec<UserUpdate>,
    pub group_creates: Vec<GroupCreate>,
    pub group_updates: Vec<GroupUpdate>,
    pub member_changes: Vec<MemberChange>,
    pub user_removals: Vec<UserRemoval>,
    pub group_removals: Vec<GroupRemoval>,
    /// Recorded as managed; no AWS write.
    pub adoptions: Vec<Adoption>,
    pub conflicts: Vec<Conflict>,
    pub rejected: Vec<Rejection>,
    pub unmanaged: Vec<Unmanaged>,
    pub skipped_members: BTreeMap<String, usize>,
}

/// Counts of the AWS writes a plan makes, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub disable: usize,
    pub delete: usize,
    pub member_add: usize,
    pub member_remove: usize,
}

impl PlanSummary {
    pub fn total(&self) -> usize {
        self.create + self.update + self.disable + self.delete + self.member_add + self.member_remove
    }
}

impl Plan {
    /// True when applying the plan writes nothing to AWS.
    pub fn is_empty(&self) -> bool {
        self.summary().total() == 0
    }

    pub fn summary(&self) -> PlanSummary {
        let (disable, delete_users) = self.user_removals.iter().fold((0, 0), |(d, x), r| match r.mode {
            RemovalMode::Disable => (d + 1, x),
            RemovalMode::Delete => (d, x + 1),
        });
        PlanSummary {
            create: self.user_creates.len() + self.group_creates.len(),
            update: self.user_updates.len() + self.group_updates.len(),
            disable,
            delete: delete_users + self.group_removals.len(),
            member_add: self.member_changes.iter().map(|c| c.add.len()).sum(),
            member_remove: self.member_changes.iter().map(|c| c.remove.len()).sum(),
        }
    }
}

fn fold(name: &str) -> String {
    // AWS declares userName and displayName caseExact=false: compare names without case.
    name.to_lowercase()
}

/// Plans the changes that make AWS hold `desired`, touching only what `managed` (or an externalId
/// match) makes scimsync's own.
pub fn plan(desired: &Desired, current: &Current, managed: &Managed, options: &PlanOptions) -> Plan {
    let mut out = Plan {
        rejected: desired.rejected.clone(),
        skipped_members: desired.skipped_members.clone(),
        ..Default::default()
    };

    // ---- users ----
    let users_by_external: HashMap<&str, &TargetUser> =
        current.users.iter().filter_map(|u| Some((u.external_id.as_deref()?, u))).collect();
    let users_by_state: HashMap<&str, &TargetUser> =
        current.users.iter().filter_map(|u| Some((managed.users.get(&u.id)?.as_str(), u))).collect();
    let users_by_name: HashMap<String, &TargetUser> =
        current.users.iter().map(|u| (fold(&u.values.user_name), u)).collect();

    // Entra object id → where that user is (or will be) in AWS.
    let mut user_targets: HashMap<&str, MemberName> = HashMap::new();
    // AWS ids of the users this run treats as its own.
    let mut own_users: BTreeSet<&str> = managed.users.keys().map(String::as_str).collect();
    let mut matched_users: BTreeSet<&str> = BTreeSet::new();
    // In scope but refused by the mapping: what AWS holds for them stays as it is, memberships included.
    let rejected: BTreeSet<&str> = desired.rejected.iter().map(|r| r.external_id.as_str()).collect();
    let held = |id: &str, external_id: Option<&str>| {
        external_id.is_some_and(|e| rejected.contains(e))
            || managed
                .users
                .get(id)
                .or_else(|| managed.groups.get(id))
                .is_some_and(|e| rejected.contains(e.as_str()))
    };
    let held_users: BTreeSet<&str> = current
        .users
        .iter()
        .filter(|u| held(&u.id, u.external_id.as_deref()))
        .map(|u| u.id.as_str())
        .collect();
    matched_users.extend(held_users.iter().copied());

    for want in &desired.users {
        let ext = want.external_id.as_str();
        let found = users_by_external.get(ext).or_else(|| users_by_state.get(ext)).copied();
        let (have, by_name) = match found {
            Some(have) => (have, false),
            None => match users_by_name.get(&fold(&want.values.user_name)) {
                None => {
                    user_targets.insert(
                        ext,
                        MemberName { target: Target::New(ext.into()), name: want.values.user_name.clone() },
                    );
                    out.user_creates.push(want.clone());
                    continue;
                }
                Some(holder) if options.adopt_by_name && !managed.users.contains_key(&holder.id) => {
                    (*holder, true)
                }
                Some(holder) => {
                    out.conflicts.push(Conflict {
                        kind: ObjectKind::User,
                        external_id: ext.into(),
                        name: want.values.user_name.clone(),
                        holder_id: holder.id.clone(),
                        reason: name_conflict_reason(
                            "userName",
                            holder.external_id.as_deref(),
                            managed,
                            &holder.id,
                        ),
                    });
                    continue;
                }
            },
        };
        let mut changes = diff_user(&have.values, &want.values);
        if have.external_id.as_deref() != Some(ext) {
            changes.push(AttrChange {
                attr: UserAttr::ExternalId,
                old: have.external_id.clone().map(AttrValue::Text),
                new: Some(AttrValue::Text(ext.into())),
            });
        }
        // A new userName that another AWS user holds would be refused (409).
        if !by_name
            && changes.iter().any(|c| c.attr == UserAttr::UserName)
            && let Some(holder) = users_by_name.get(&fold(&want.values.user_name))
            && holder.id != have.id
        {
            out.conflicts.push(Conflict {
                kind: ObjectKind::User,
                external_id: ext.into(),
                name: want.values.user_name.clone(),
                holder_id: holder.id.clone(),
                reason: format!("the new userName is held by another AWS user ({})", holder.id),
            });
            changes.retain(|c| c.attr != UserAttr::UserName);
        }
        matched_users.insert(have.id.as_str());
        own_users.insert(have.id.as_str());
        user_targets.insert(
            ext,
            MemberName { target: Target::Existing(have.id.clone()), name: want.values.user_name.clone() },
        );
        if !managed.users.contains_key(&have.id)
            || managed.users.get(&have.id).map(String::as_str) != Some(ext)
        {
            out.adoptions.push(Adoption {
                kind: ObjectKind::User,
                id: have.id.clone(),
                external_id: ext.into(),
                name: want.values.user_name.clone(),
            });
        }
        if !changes.is_empty() {
            out.user_updates.push(UserUpdate {
                id: have.id.clone(),
                external_id: ext.into(),
                user_name: have.values.user_name.clone(),
                changes,
            });
        }
    }

    for have in &current.users {
        if matched_users.contains(have.id.as_str()) {
            continue;
        }
        if !managed.users.contains_key(&have.id) {
            out.unmanaged.push(Unmanaged {
                kind: ObjectKind::User,
                id: have.id.clone(),
                name: have.values.user_name.clone(),
            });
            continue;
        }
        let removal = UserRemoval {
            id: have.id.clone(),
            user_name: have.values.user_name.clone(),
            mode: options.removal,
        };
        match options.removal {
            RemovalMode::Disable if !have.values.active => {}
            _ => out.user_removals.push(removal),
        }
    }

    // ---- groups ----
    let groups_by_external: HashMap<&str, &TargetGroup> =
        current.groups.iter().filter_map(|g| Some((g.external_id.as_deref()?, g))).collect();
    let groups_by_state: HashMap<&str, &TargetGroup> =
        current.groups.iter().filter_map(|g| Some((managed.groups.get(&g.id)?.as_str(), g))).collect();
    let groups_by_name: HashMap<String, &TargetGroup> =
        current.groups.iter().map(|g| (fold(&g.display_name), g)).collect();
    let mut matched_groups: BTreeSet<&str> = current
        .groups
        .iter()
        .filter(|g| held(&g.id, g.external_id.as_deref()))
        .map(|g| g.id.as_str())
        .collect();
    let user_names: HashMap<&str, &str> =
        current.users.iter().map(|u| (u.id.as_str(), u.values.user_name.as_str())).collect();

    for want in &desired.groups {
        let ext = want.external_id.as_str();
        let found = groups_by_external.get(ext).or_else(|| groups_by_state.get(ext)).copied();
        let have = match found {
            Some(have) => Some(have),
            None => match groups_by_name.get(&fold(&want.display_name)) {
                None => None,
                Some(holder) if options.adopt_by_name && !managed.groups.contains_key(&holder.id) => {
                    Some(*holder)
                }
                Some(holder) => {
                    out.conflicts.push(Conflict {
                        kind: ObjectKind::Group,
                        external_id: ext.into(),
                        name: want.display_name.clone(),
                        holder_id: holder.id.clone(),
                        reason: name_conflict_reason(
                            "displayName",
                            holder.external_id.as_deref(),
                            managed,
                            &holder.id,
                        ),
                    });
                    continue;
                }
            },
        };
        let wanted_members: BTreeMap<&Target, &MemberName> = want
            .members
            .iter()
            .filter_map(|m| user_targets.get(m.as_str()))
            .map(|m| (&m.target, m))
            .collect();
        let Some(have) = have else {
            out.group_creates
                .push(GroupCreate { external_id: ext.into(), display_name: want.display_name.clone() });
            let add: Vec<MemberName> = wanted_members.values().map(|m| (*m).clone()).collect();
            if !add.is_empty() {
                out.member_changes.push(MemberChange {
                    group: Target::New(ext.into()),
                    group_name: want.display_name.clone(),
                    add,
                    remove: vec![],
                });
            }
            continue;
        };
        matched_groups.insert(have.id.as_str());
        if managed.groups.get(&have.id).map(String::as_str) != Some(ext) {
            out.adoptions.push(Adoption {
                kind: ObjectKind::Group,
                id: have.id.clone(),
                external_id: ext.into(),
                name: want.display_name.clone(),
            });
        }
        let rename = (have.display_name != want.display_name).then(|| want.display_name.clone());
        let rename = match rename {
            Some(name) => match groups_by_name.get(&fold(&name)) {
                Some(holder) if holder.id != have.id => {
                    out.conflicts.push(Conflict {
                        kind: ObjectKind::Group,
                        external_id: ext.into(),
                        name: name.clone(),
                        holder_id: holder.id.clone(),
                        reason: format!("the new displayName is held by another AWS group ({})", holder.id),
                    });
                    None
                }
                _ => Some(name),
            },
            None => None,
        };
        let set_external_id = have.external_id.as_deref() != Some(ext);
        if rename.is_some() || set_external_id {
            out.group_updates.push(GroupUpdate {
                id: have.id.clone(),
                external_id: ext.into(),
                old_name: have.display_name.clone(),
                display_name: rename,
                set_external_id,
            });
        }
        let empty = BTreeSet::new();
        let current_members = have.members.as_ref().unwrap_or(&empty);
        let add: Vec<MemberName> = wanted_members
            .iter()
            .filter(|(t, _)| match t {
                Target::Existing(id) => !current_members.contains(id),
                Target::New(_) => true,
            })
            .map(|(_, m)| (*m).clone())
            .collect();
        // Only members scimsync manages are removed; someone added by hand who is not ours stays.
        let remove: Vec<MemberName> = current_members
            .iter()
            .filter(|id| own_users.contains(id.as_str()) && !held_users.contains(id.as_str()))
            .filter(|id| !wanted_members.contains_key(&Target::Existing((*id).clone())))
            .map(|id| MemberName {
                target: Target::Existing(id.clone()),
                name: user_names.get(id.as_str()).map_or_else(|| id.clone(), |n| n.to_string()),
            })
            .collect();
        if !add.is_empty() || !remove.is_empty() {
            out.member_changes.push(MemberChange {
                group: Target::Existing(have.id.clone()),
                group_name: want.display_name.clone(),
                add,
                remove,
            });
        }
    }

    for have in &current.groups {
        if matched_groups.contains(have.id.as_str()) {
            continue;
        }
        if !managed.groups.contains_key(&have.id) {
            out.unmanaged.push(Unmanaged {
                kind: ObjectKind::Group,
                id: have.id.clone(),
                name: have.display_name.clone(),
            });
            continue;
        }
        match options.removal {
            RemovalMode::Delete => out
                .group_removals
                .push(GroupRemoval { id: have.id.clone(), display_name: have.display_name.clone() }),
            // A group that left scope is emptied of the members scimsync manages, so it grants nothing,
            // but it stays with its account assignments.
            RemovalMode::Disable => {
                let remove: Vec<MemberName> = have
                    .members
                    .iter()
                    .flatten()
                    .filter(|id| own_users.contains(id.as_str()) && !held_users.contains(id.as_str()))
                    .map(|id| MemberName {
                        target: Target::Existing(id.clone()),
                        name: user_names.get(id.as_str()).map_or_else(|| id.clone(), |n| n.to_string()),
                    })
                    .collect();
                if !remove.is_empty() {
                    out.member_changes.push(MemberChange {
                        group: Target::Existing(have.id.clone()),
                        group_name: have.display_name.clone(),
                        add: vec![],
                        remove,
                    });
                }
            }
        }
    }
    out.unmanaged.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    out
}

fn name_conflict_reason(
    attr: &str,
    holder_external: Option<&str>,
    managed: &Managed,
    holder_id: &str,
) -> String {
    let holder = match holder_external {
        Some(ext) => format!("an AWS object ({holder_id}) with externalId {ext:?}"),
        None => format!("an AWS object ({holder_id}) with no externalId"),
    };
    if managed.users.contains_key(holder_id) || managed.groups.contains_key(holder_id) {
        format!("{attr} is held by {holder} that scimsync manages for another Entra object")
    } else {
        format!("{attr} is held by {holder} that scimsync does not manage; set adopt_by_name to take it over")
    }
}
