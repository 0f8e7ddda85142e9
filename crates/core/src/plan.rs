//! The plan: the exact difference between what AWS should hold and what it holds, as a pure function.
//!
//! Objects are matched by externalId (the Entra object id), then by the state's id map. An AWS object
//! that holds a wanted userName or group name under another identity is a conflict unless adoption by
//! name is switched on. Nothing that scimsync does not manage is ever changed or removed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::attr::{AttrChange, AttrValue, UserAttr, diff_user};
use crate::mapping::{
    APP_ROLE_ASSIGNMENTS, ManagerLink, Mapping, Rejection, link_managers, map_group_name, resolve_managers,
};
use crate::model::{Current, DesiredGroup, DesiredUser, Directory, TargetGroup, TargetUser};
use crate::scope::{Scope, ScopeOptions, resolve};

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
    /// With `removal = Delete`: how long (seconds) after an object is first seen out of scope it is
    /// deleted; until then it is disabled (users) or emptied (groups). 0 deletes at once.
    #[serde(default)]
    pub delete_after_secs: u64,
    /// The time of the run, in seconds since the Unix epoch (for the grace period).
    #[serde(default)]
    pub now: u64,
}

/// The objects scimsync manages: AWS id → the Entra object id it was created or adopted for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    pub users: HashMap<String, String>,
    pub groups: HashMap<String, String>,
    /// AWS id of a managed user → when (seconds since the Unix epoch) it was first seen out of scope.
    #[serde(default)]
    pub user_out_of_scope_since: HashMap<String, u64>,
    /// The same for groups.
    #[serde(default)]
    pub group_out_of_scope_since: HashMap<String, u64>,
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
    /// Group ids and name patterns of `[scope]` that chose no group.
    #[serde(default)]
    pub unmatched_groups: Vec<String>,
    /// Users that would be in scope but for the user scoping filters.
    #[serde(default)]
    pub filtered_out: usize,
}

/// Scopes and maps a directory.
pub fn desired(directory: &Directory, scope: &ScopeOptions) -> Desired {
    desired_with(directory, scope, &Mapping::default())
}

/// Scopes and maps a directory with a configured mapping.
pub fn desired_with(directory: &Directory, scope: &ScopeOptions, mapping: &Mapping) -> Desired {
    let scope = resolve(directory, scope);
    let mut out = Desired {
        skipped_members: scope.skipped_members.clone(),
        unmatched_groups: scope.unmatched_groups.clone(),
        filtered_out: scope.filtered_out.len(),
        ..Default::default()
    };
    let roles = user_app_roles(directory, &scope);
    for user in directory.users.iter().filter(|u| scope.users.contains(&u.id)) {
        let with_roles;
        let user = match roles.get(user.id.as_str()) {
            Some(names) => {
                let mut copy = user.clone();
                copy.extra.insert(APP_ROLE_ASSIGNMENTS.to_string(), names.iter().cloned().collect());
                with_roles = copy;
                &with_roles
            }
            None => user,
        };
        match mapping.map_user(user) {
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

/// The app roles of each user: those assigned to the user, and those of every group in scope it is a
/// member of (through nested groups as the scope flattens them). A group out of scope passes its
/// roles to its direct user members, as Entra does.
fn user_app_roles<'a>(directory: &'a Directory, scope: &'a Scope) -> HashMap<&'a str, BTreeSet<String>> {
    let mut out: HashMap<&str, BTreeSet<String>> = HashMap::new();
    if directory.app_roles.is_empty() {
        return out;
    }
    for (principal, names) in &directory.app_roles {
        let names: Vec<&String> = names.iter().filter(|n| !n.trim().is_empty()).collect();
        let members: Vec<&str> = match scope.groups.get(principal) {
            Some(members) => members.iter().map(String::as_str).collect(),
            None => match directory.groups.iter().find(|g| &g.id == principal) {
                Some(group) => group
                    .members
                    .iter()
                    .filter(|m| m.kind == crate::model::MemberKind::User)
                    .map(|m| m.id.as_str())
                    .collect(),
                None => vec![principal.as_str()],
            },
        };
        for member in members {
            out.entry(member).or_default().extend(names.iter().map(|n| n.to_string()));
        }
    }
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

/// A user that gives up its userName or primary email before other writes, so that another user can
/// take it: an in-scope user through a temporary name (swaps, chains), or a managed user that left
/// scope for good (`retired`: a user deleted and re-created in Entra with the same UPN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserVacate {
    pub id: String,
    /// The Entra object id the user is managed for.
    pub external_id: String,
    /// The userName it has now.
    pub user_name: String,
    /// userName to a temporary or retired name, and/or the email removed.
    pub changes: Vec<AttrChange>,
    pub retired: bool,
}

/// A group that gives up its displayName before other writes (see [`UserVacate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVacate {
    pub id: String,
    pub external_id: String,
    pub old_name: String,
    /// The temporary or retired name.
    pub display_name: String,
    pub retired: bool,
}

/// A managed object that is out of scope, and when it is deleted (with `removal = delete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeExit {
    pub kind: ObjectKind,
    pub id: String,
    pub name: String,
    /// When it was first seen out of scope (seconds since the Unix epoch); `None`: this run.
    pub since: Option<u64>,
    /// When its deletion is due; `None` when removals disable.
    pub delete_due: Option<u64>,
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
    /// Applied first: users that hand their userName or email over.
    #[serde(default)]
    pub user_vacates: Vec<UserVacate>,
    pub user_creates: Vec<DesiredUser>,
    pub user_updates: Vec<UserUpdate>,
    /// Applied before group creates and updates: groups that hand their name over.
    #[serde(default)]
    pub group_vacates: Vec<GroupVacate>,
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
    /// Group ids and name patterns of `[scope]` that chose no group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched_groups: Vec<String>,
    /// Users that would be in scope but for the user scoping filters.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub filtered_out: usize,
    /// Managed objects out of scope (the state remembers since when, for the grace period).
    #[serde(default)]
    pub scope_exits: Vec<ScopeExit>,
    /// Managers set after the users this run creates exist (one update each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manager_links: Vec<ManagerLink>,
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
            update: self.user_updates.len()
                + self.group_updates.len()
                + self.manager_links.len()
                + self.user_vacates.len()
                + self.group_vacates.len(),
            disable,
            delete: delete_users + self.group_removals.len(),
            member_add: self.member_changes.iter().map(|c| c.add.len()).sum(),
            member_remove: self.member_changes.iter().map(|c| c.remove.len()).sum(),
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn fold(name: &str) -> String {
    // AWS declares userName and displayName caseExact=false: compare names without case.
    name.to_lowercase()
}

/// Plans the changes that make AWS hold `desired`, touching only what `managed` (or an externalId
/// match) makes scimsync's own.
pub fn plan(desired: &Desired, current: &Current, managed: &Managed, options: &PlanOptions) -> Plan {
    // Managers are wanted as Entra object ids; AWS holds AWS ids.
    let (desired, pending_managers) = resolve_managers(desired, current, managed);
    let desired = &desired;
    let mut out = Plan {
        rejected: desired.rejected.clone(),
        skipped_members: desired.skipped_members.clone(),
        unmatched_groups: desired.unmatched_groups.clone(),
        filtered_out: desired.filtered_out,
        ..Default::default()
    };

    // ---- users ----

    // Entra object id → where that user is (or will be) in AWS.
    let mut user_targets: HashMap<&str, MemberName> = HashMap::new();
    // AWS ids of the users this run treats as its own.
    let mut own_users: BTreeSet<&str> = managed.users.keys().map(String::as_str).collect();
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

    let conflict = |kind: ObjectKind, ext: &str, name: &str, holder_id: &str, reason: String| Conflict {
        kind,
        external_id: ext.into(),
        name: name.into(),
        holder_id: holder_id.into(),
        reason,
    };
    let Matching { matched: user_match, by_aws_id: matched_users, creates: user_creates } = match_objects(
        ObjectKind::User,
        &desired.users,
        &current.users,
        &managed.users,
        &held_users,
        managed,
        options.adopt_by_name,
        &mut out.conflicts,
    );

    // 3. Name and email claims: who may take which userName and primary email (both unique in AWS).
    let holders: Vec<Holder> = current
        .users
        .iter()
        .map(|u| Holder {
            values: vec![Some(fold(&u.values.user_name)), u.values.email.as_deref().map(fold)],
            state: if matched_users.contains_key(u.id.as_str()) {
                HolderState::InScope
            } else if managed.users.contains_key(&u.id) && !held_users.contains(u.id.as_str()) {
                HolderState::OutOfScope
            } else {
                HolderState::Fixed
            },
        })
        .collect();
    let holder_index: HashMap<&str, usize> =
        current.users.iter().enumerate().map(|(i, u)| (u.id.as_str(), i)).collect();
    let mut changes_of: Vec<Vec<AttrChange>> = vec![Vec::new(); desired.users.len()];
    let mut claims: Vec<Claim> = Vec::new();
    for (i, want) in desired.users.iter().enumerate() {
        let Some(have) = user_match[i] else { continue };
        let mut changes = diff_user(&have.values, &want.values);
        if have.external_id.as_deref() != Some(want.external_id.as_str()) {
            changes.push(AttrChange {
                attr: UserAttr::ExternalId,
                old: have.external_id.clone().map(AttrValue::Text),
                new: Some(AttrValue::Text(want.external_id.clone())),
            });
        }
        let owner = Some(holder_index[have.id.as_str()]);
        for change in &changes {
            let slot = match change.attr {
                UserAttr::UserName => 0,
                UserAttr::Email => 1,
                _ => continue,
            };
            let value = match &change.new {
                Some(AttrValue::Text(value)) => Some(fold(value)),
                _ => None,
            };
            claims.push(Claim::new(owner, i, slot, value, false));
        }
        changes_of[i] = changes;
    }
    for &i in &user_creates {
        let want = &desired.users[i];
        let op = desired.users.len() + i;
        claims.push(Claim::new(None, op, 0, Some(fold(&want.values.user_name)), true));
        if let Some(email) = &want.values.email {
            claims.push(Claim::new(None, op, 1, Some(fold(email)), true));
        }
    }
    let vacating = settle_claims(&holders, &mut claims);
    let slot_label = ["userName", "primary email"];
    // (op, slot) → what blocks it, and the slot whose value clashed (a create dies as a whole when
    // any of its values clashes: the report names that value, not the first one).
    let dead: BTreeMap<(usize, usize), (Block, usize)> =
        claims.iter().filter_map(|c| Some(((c.op, c.slot), (c.dead?, c.dead_by)))).collect();
    let explain = |block: Block, slot: usize, value: Option<&str>| -> (String, String) {
        let what = match value {
            Some(value) => format!("{} {value:?}", slot_label[slot]),
            None => slot_label[slot].to_string(),
        };
        match block {
            Block::Rival => (String::new(), format!("another Entra object in scope wants the same {what}")),
            Block::Holder(h) => {
                let holder = &current.users[h];
                let reason = if held_users.contains(holder.id.as_str()) {
                    format!(
                        "its {what} is held by an AWS user ({}) whose Entra object the mapping rejects",
                        holder.id
                    )
                } else if matched_users.contains_key(holder.id.as_str()) {
                    format!(
                        "its {what} is held by an AWS user ({}) that scimsync manages for another Entra object, which keeps it",
                        holder.id
                    )
                } else {
                    name_conflict_reason(&what, holder.external_id.as_deref(), managed, &holder.id)
                };
                (holder.id.clone(), reason)
            }
        }
    };
    let mut creates_alive: BTreeSet<usize> = BTreeSet::new();
    for &i in &user_creates {
        let want = &desired.users[i];
        let op = desired.users.len() + i;
        let blocked = dead.get(&(op, 0)).or_else(|| dead.get(&(op, 1))).copied();
        match blocked {
            None => {
                creates_alive.insert(i);
            }
            Some((block, slot)) => {
                let value = if slot == 0 {
                    Some(want.values.user_name.as_str())
                } else {
                    want.values.email.as_deref()
                };
                let (holder, reason) = explain(block, slot, value);
                out.conflicts.push(conflict(
                    ObjectKind::User,
                    &want.external_id,
                    &want.values.user_name,
                    &holder,
                    reason,
                ));
            }
        }
    }
    for (i, want) in desired.users.iter().enumerate() {
        for (slot, label) in slot_label.iter().enumerate() {
            let Some(&(block, _)) = dead.get(&(i, slot)) else { continue };
            let value =
                if slot == 0 { Some(want.values.user_name.as_str()) } else { want.values.email.as_deref() };
            let (holder, reason) = explain(block, slot, value);
            out.conflicts.push(conflict(
                ObjectKind::User,
                &want.external_id,
                &want.values.user_name,
                &holder,
                format!("the new {label}: {reason}"),
            ));
            let attr = if slot == 0 { UserAttr::UserName } else { UserAttr::Email };
            changes_of[i].retain(|c| c.attr != attr);
        }
    }
    // Holders that give up a userName or email first: in scope ones through a temporary name (so
    // that swaps and chains never collide), out of scope ones for good ("retired").
    for (h, slots) in &vacating {
        let have = &current.users[*h];
        let mut changes = Vec::new();
        let in_scope = holders[*h].state == HolderState::InScope;
        if slots.contains(&0) {
            let name = if in_scope {
                temporary_name(&have.id)
            } else {
                retired_name(&have.id, &have.values.user_name, MAX_USER_NAME)
            };
            changes.push(AttrChange {
                attr: UserAttr::UserName,
                old: Some(AttrValue::Text(have.values.user_name.clone())),
                new: Some(AttrValue::Text(name)),
            });
        }
        if slots.contains(&1) {
            changes.push(AttrChange {
                attr: UserAttr::Email,
                old: have.values.email.clone().map(AttrValue::Text),
                new: None,
            });
            // Its own update must not clear the email a second time.
            if let Some(&i) = matched_users.get(have.id.as_str()) {
                changes_of[i].retain(|c| !(c.attr == UserAttr::Email && c.new.is_none()));
            }
        }
        out.user_vacates.push(UserVacate {
            id: have.id.clone(),
            external_id: managed
                .users
                .get(&have.id)
                .cloned()
                .or_else(|| have.external_id.clone())
                .unwrap_or_default(),
            user_name: have.values.user_name.clone(),
            changes,
            retired: !in_scope,
        });
    }

    for (i, want) in desired.users.iter().enumerate() {
        let ext = want.external_id.as_str();
        if creates_alive.contains(&i) {
            user_targets.insert(
                ext,
                MemberName { target: Target::New(ext.into()), name: want.values.user_name.clone() },
            );
            out.user_creates.push(want.clone());
            continue;
        }
        let Some(have) = user_match[i] else { continue };
        own_users.insert(have.id.as_str());
        user_targets.insert(
            ext,
            MemberName { target: Target::Existing(have.id.clone()), name: want.values.user_name.clone() },
        );
        if managed.users.get(&have.id).map(String::as_str) != Some(ext) {
            out.adoptions.push(Adoption {
                kind: ObjectKind::User,
                id: have.id.clone(),
                external_id: ext.into(),
                name: want.values.user_name.clone(),
            });
        }
        let changes = std::mem::take(&mut changes_of[i]);
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
        if matched_users.contains_key(have.id.as_str()) || held_users.contains(have.id.as_str()) {
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
        let since = managed.user_out_of_scope_since.get(&have.id).copied();
        let (delete, due) = removal_due(since, options);
        out.scope_exits.push(ScopeExit {
            kind: ObjectKind::User,
            id: have.id.clone(),
            name: have.values.user_name.clone(),
            since,
            delete_due: due,
        });
        let mode = if delete { RemovalMode::Delete } else { RemovalMode::Disable };
        let removal = UserRemoval { id: have.id.clone(), user_name: have.values.user_name.clone(), mode };
        match mode {
            RemovalMode::Disable if !have.values.active => {}
            _ => out.user_removals.push(removal),
        }
    }

    // ---- groups ----
    let held_groups: BTreeSet<&str> = current
        .groups
        .iter()
        .filter(|g| held(&g.id, g.external_id.as_deref()))
        .map(|g| g.id.as_str())
        .collect();
    let user_names: HashMap<&str, &str> =
        current.users.iter().map(|u| (u.id.as_str(), u.values.user_name.as_str())).collect();

    let Matching { matched: group_match, by_aws_id: matched_groups, creates: group_creates } = match_objects(
        ObjectKind::Group,
        &desired.groups,
        &current.groups,
        &managed.groups,
        &held_groups,
        managed,
        options.adopt_by_name,
        &mut out.conflicts,
    );
    // 3. displayName claims.
    let holders: Vec<Holder> = current
        .groups
        .iter()
        .map(|g| Holder {
            values: vec![Some(fold(&g.display_name))],
            state: if matched_groups.contains_key(g.id.as_str()) {
                HolderState::InScope
            } else if managed.groups.contains_key(&g.id) && !held_groups.contains(g.id.as_str()) {
                HolderState::OutOfScope
            } else {
                HolderState::Fixed
            },
        })
        .collect();
    let holder_index: HashMap<&str, usize> =
        current.groups.iter().enumerate().map(|(i, g)| (g.id.as_str(), i)).collect();
    let mut claims: Vec<Claim> = Vec::new();
    for (i, want) in desired.groups.iter().enumerate() {
        if let Some(have) = group_match[i]
            && have.display_name != want.display_name
        {
            let owner = Some(holder_index[have.id.as_str()]);
            claims.push(Claim::new(owner, i, 0, Some(fold(&want.display_name)), false));
        }
    }
    for &i in &group_creates {
        let want = &desired.groups[i];
        claims.push(Claim::new(None, desired.groups.len() + i, 0, Some(fold(&want.display_name)), true));
    }
    let vacating = settle_claims(&holders, &mut claims);
    let dead: BTreeMap<usize, Block> = claims.iter().filter_map(|c| Some((c.op, c.dead?))).collect();
    let explain = |block: Block| -> (String, String) {
        match block {
            Block::Rival => (String::new(), "another Entra group in scope wants the same displayName".into()),
            Block::Holder(h) => {
                let holder = &current.groups[h];
                let reason = if held_groups.contains(holder.id.as_str()) {
                    format!(
                        "displayName is held by an AWS group ({}) whose Entra group is rejected",
                        holder.id
                    )
                } else if matched_groups.contains_key(holder.id.as_str()) {
                    format!(
                        "displayName is held by an AWS group ({}) that scimsync manages for another Entra group, which keeps it",
                        holder.id
                    )
                } else {
                    name_conflict_reason("displayName", holder.external_id.as_deref(), managed, &holder.id)
                };
                (holder.id.clone(), reason)
            }
        }
    };
    let mut group_creates_alive: BTreeSet<usize> = BTreeSet::new();
    for &i in &group_creates {
        let want = &desired.groups[i];
        match dead.get(&(desired.groups.len() + i)) {
            None => {
                group_creates_alive.insert(i);
            }
            Some(block) => {
                let (holder, reason) = explain(*block);
                out.conflicts.push(conflict(
                    ObjectKind::Group,
                    &want.external_id,
                    &want.display_name,
                    &holder,
                    reason,
                ));
            }
        }
    }
    for &h in vacating.keys() {
        let have = &current.groups[h];
        let in_scope = holders[h].state == HolderState::InScope;
        let name = if in_scope {
            temporary_name(&have.id)
        } else {
            retired_name(&have.id, &have.display_name, MAX_GROUP_NAME)
        };
        out.group_vacates.push(GroupVacate {
            id: have.id.clone(),
            external_id: managed
                .groups
                .get(&have.id)
                .cloned()
                .or_else(|| have.external_id.clone())
                .unwrap_or_default(),
            old_name: have.display_name.clone(),
            display_name: name,
            retired: !in_scope,
        });
    }

    // 4. The writes.
    for (i, want) in desired.groups.iter().enumerate() {
        let ext = want.external_id.as_str();
        let wanted_members: BTreeMap<&Target, &MemberName> = want
            .members
            .iter()
            .filter_map(|m| user_targets.get(m.as_str()))
            .map(|m| (&m.target, m))
            .collect();
        if group_creates_alive.contains(&i) {
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
        }
        let Some(have) = group_match[i] else { continue };
        if managed.groups.get(&have.id).map(String::as_str) != Some(ext) {
            out.adoptions.push(Adoption {
                kind: ObjectKind::Group,
                id: have.id.clone(),
                external_id: ext.into(),
                name: want.display_name.clone(),
            });
        }
        let rename = (have.display_name != want.display_name).then(|| want.display_name.clone());
        let rename = match (rename, dead.get(&i)) {
            (Some(name), Some(block)) => {
                let (holder, reason) = explain(*block);
                out.conflicts.push(conflict(
                    ObjectKind::Group,
                    ext,
                    &name,
                    &holder,
                    format!("the new displayName: {reason}"),
                ));
                None
            }
            (rename, _) => rename,
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
        if matched_groups.contains_key(have.id.as_str()) || held_groups.contains(have.id.as_str()) {
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
        let since = managed.group_out_of_scope_since.get(&have.id).copied();
        let (delete, due) = removal_due(since, options);
        out.scope_exits.push(ScopeExit {
            kind: ObjectKind::Group,
            id: have.id.clone(),
            name: have.display_name.clone(),
            since,
            delete_due: due,
        });
        if delete {
            out.group_removals
                .push(GroupRemoval { id: have.id.clone(), display_name: have.display_name.clone() });
            continue;
        }
        // A group that left scope is emptied of the members scimsync manages, so it grants nothing,
        // but it stays with its account assignments (until its deletion is due, when configured).
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
    out.unmanaged.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    link_managers(&mut out, &pending_managers, current, managed);
    out
}

/// Longest group displayName AWS accepts.
const MAX_GROUP_NAME: usize = 1024;
/// Longest userName AWS accepts.
const MAX_USER_NAME: usize = 128;

/// When a managed object that left scope is deleted: `(delete now, when deletion is due)`. Deletion
/// is due `delete_after_secs` after the object was first seen out of scope (`since`, from the state;
/// unknown means now). Without `removal = delete` nothing is ever due.
fn removal_due(since: Option<u64>, options: &PlanOptions) -> (bool, Option<u64>) {
    if options.removal != RemovalMode::Delete {
        return (false, None);
    }
    let due = since.unwrap_or(options.now).saturating_add(options.delete_after_secs);
    (options.now >= due, Some(due))
}

/// The name an in-scope object holds for a moment while it hands its own name to another (swaps).
fn temporary_name(id: &str) -> String {
    format!("scimsync-tmp-{id}").chars().take(MAX_USER_NAME).collect()
}

/// The name a managed object that left scope takes when a new Entra object needs its name (a user
/// deleted and re-created with the same UPN). Unique by the AWS id, valid as a userName.
pub fn retired_name(id: &str, old: &str, max: usize) -> String {
    let short: String = id.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    format!("retired-{short}-{old}").chars().take(max).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HolderState {
    /// Matched to a wanted object: keeps its value unless it changes it in this plan.
    InScope,
    /// Managed and out of scope: gives its value up when a wanted object needs it.
    OutOfScope,
    /// Not scimsync's to change (unmanaged, or held for a rejected Entra object).
    Fixed,
}

/// An AWS object that holds unique values (userName and primary email, or group displayName).
struct Holder {
    /// Current values by slot, folded.
    values: Vec<Option<String>>,
    state: HolderState,
}

/// Why a claim cannot be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// The holder at this index keeps the value.
    Holder(usize),
    /// Another wanted object claims the same value.
    Rival,
}

/// A wanted object taking a unique value: a create, or an update that changes it.
struct Claim {
    /// The holder index of the object that claims, `None` for a create.
    owner: Option<usize>,
    /// The operation: claims of one all-or-nothing operation (a create) live and die together.
    op: usize,
    slot: usize,
    /// Folded; `None` releases the slot (an email cleared).
    value: Option<String>,
    all_or_nothing: bool,
    dead: Option<Block>,
    /// When dead: the slot whose value clashed (another slot's, for an all-or-nothing operation).
    dead_by: usize,
}

impl Claim {
    fn new(
        owner: Option<usize>,
        op: usize,
        slot: usize,
        value: Option<String>,
        all_or_nothing: bool,
    ) -> Self {
        Claim { owner, op, slot, value, all_or_nothing, dead: None, dead_by: slot }
    }
}

/// Settles who may take which unique value, so that AWS never sees a duplicate: a claim dies when an
/// object that keeps the value holds it, or when another wanted object claims it too (never a
/// guess); until nothing changes. Returns the holders that must give a value up first, by slot:
/// in-scope objects that move to another value (swaps, chains) and out-of-scope managed ones.
fn settle_claims(holders: &[Holder], claims: &mut [Claim]) -> BTreeMap<usize, BTreeSet<usize>> {
    let mut by_value: HashMap<(usize, &str), Vec<usize>> = HashMap::new();
    for (h, holder) in holders.iter().enumerate() {
        for (slot, value) in holder.values.iter().enumerate() {
            if let Some(v) = value {
                by_value.entry((slot, v.as_str())).or_default().push(h);
            }
        }
    }
    loop {
        let mut finals: HashMap<(usize, usize), Option<&str>> = HashMap::new();
        let mut wanted: HashMap<(usize, &str), BTreeSet<usize>> = HashMap::new();
        for c in claims.iter().filter(|c| c.dead.is_none()) {
            if let Some(owner) = c.owner {
                finals.insert((owner, c.slot), c.value.as_deref());
            }
            if let Some(v) = &c.value {
                wanted.entry((c.slot, v.as_str())).or_default().insert(c.op);
            }
        }
        let final_value = |h: usize, slot: usize| -> Option<&str> {
            finals.get(&(h, slot)).copied().unwrap_or(holders[h].values[slot].as_deref())
        };
        let mut kills: Vec<(usize, Block)> = Vec::new();
        for (ci, c) in claims.iter().enumerate() {
            let (None, Some(value)) = (c.dead, c.value.as_deref()) else { continue };
            let block = if wanted.get(&(c.slot, value)).is_some_and(|ops| ops.len() > 1) {
                Some(Block::Rival)
            } else {
                by_value
                    .get(&(c.slot, value))
                    .into_iter()
                    .flatten()
                    .copied()
                    .find(|&h| {
                        Some(h) != c.owner
                            && match holders[h].state {
                                HolderState::Fixed => true,
                                HolderState::OutOfScope => false,
                                HolderState::InScope => final_value(h, c.slot) == Some(value),
                            }
                    })
                    .map(Block::Holder)
            };
            if let Some(block) = block {
                kills.push((ci, block));
            }
        }
        if kills.is_empty() {
            break;
        }
        for (ci, block) in kills {
            let (op, whole, slot) = (claims[ci].op, claims[ci].all_or_nothing, claims[ci].slot);
            let kill = |claim: &mut Claim| {
                if claim.dead.is_none() {
                    claim.dead = Some(block);
                    claim.dead_by = slot;
                }
            };
            kill(&mut claims[ci]);
            if whole {
                claims.iter_mut().filter(|o| o.op == op).for_each(kill);
            }
        }
    }
    let mut vacating: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for c in claims.iter().filter(|c| c.dead.is_none()) {
        let Some(value) = c.value.as_deref() else { continue };
        for &h in by_value.get(&(c.slot, value)).into_iter().flatten() {
            if Some(h) != c.owner {
                vacating.entry(h).or_default().insert(c.slot);
            }
        }
    }
    vacating
}

/// What matching needs of an object AWS holds.
trait AwsObject {
    fn id(&self) -> &str;
    fn external_id(&self) -> Option<&str>;
    /// userName or displayName: unique in AWS without regard to case.
    fn name(&self) -> &str;
}

impl AwsObject for TargetUser {
    fn id(&self) -> &str {
        &self.id
    }
    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }
    fn name(&self) -> &str {
        &self.values.user_name
    }
}

impl AwsObject for TargetGroup {
    fn id(&self) -> &str {
        &self.id
    }
    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }
    fn name(&self) -> &str {
        &self.display_name
    }
}

/// What matching needs of a wanted object.
trait WantedObject {
    fn external_id(&self) -> &str;
    fn name(&self) -> &str;
}

impl WantedObject for DesiredUser {
    fn external_id(&self) -> &str {
        &self.external_id
    }
    fn name(&self) -> &str {
        &self.values.user_name
    }
}

impl WantedObject for DesiredGroup {
    fn external_id(&self) -> &str {
        &self.external_id
    }
    fn name(&self) -> &str {
        &self.display_name
    }
}

/// Which AWS object each wanted object is, by index.
struct Matching<'a, T> {
    matched: Vec<Option<&'a T>>,
    /// AWS id → index of the wanted object it is.
    by_aws_id: HashMap<&'a str, usize>,
    /// Wanted objects with no AWS object yet and no name in the way that stays.
    creates: Vec<usize>,
}

/// Matches wanted objects to AWS objects: 1. by externalId, then by the state's id map; 2. by name:
/// an unmanaged holder is adopted when asked for (and only one Entra object wants it), a managed holder
/// is settled by the name claims later, several holders are never guessed. Users and groups alike.
#[allow(clippy::too_many_arguments)]
fn match_objects<'a, W: WantedObject, T: AwsObject>(
    kind: ObjectKind,
    wanted: &[W],
    current: &'a [T],
    managed_of_kind: &HashMap<String, String>,
    held: &BTreeSet<&str>,
    managed: &Managed,
    adopt_by_name: bool,
    conflicts: &mut Vec<Conflict>,
) -> Matching<'a, T> {
    let (noun, name_attr) = match kind {
        ObjectKind::User => ("user", "userName"),
        ObjectKind::Group => ("group", "displayName"),
    };
    let by_external: HashMap<&str, &T> = current.iter().filter_map(|o| Some((o.external_id()?, o))).collect();
    let by_state: HashMap<&str, &T> =
        current.iter().filter_map(|o| Some((managed_of_kind.get(o.id())?.as_str(), o))).collect();
    let mut by_name: HashMap<String, Vec<&T>> = HashMap::new();
    for o in current {
        by_name.entry(fold(o.name())).or_default().push(o);
    }
    let conflict = |ext: &str, name: &str, holder_id: &str, reason: String| Conflict {
        kind,
        external_id: ext.into(),
        name: name.into(),
        holder_id: holder_id.into(),
        reason,
    };

    let mut matched: Vec<Option<&T>> = vec![None; wanted.len()];
    let mut by_aws_id: HashMap<&str, usize> = HashMap::new();
    for (i, want) in wanted.iter().enumerate() {
        let ext = want.external_id();
        if let Some(have) = by_external.get(ext).or_else(|| by_state.get(ext)).copied()
            && !held.contains(have.id())
            && !by_aws_id.contains_key(have.id())
        {
            matched[i] = Some(have);
            by_aws_id.insert(have.id(), i);
        }
    }

    let mut creates: Vec<usize> = Vec::new();
    let mut adoption_claims: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, want) in wanted.iter().enumerate() {
        if matched[i].is_some() {
            continue;
        }
        let (ext, name) = (want.external_id(), want.name());
        let holders = by_name.get(&fold(name)).map(Vec::as_slice).unwrap_or_default();
        match holders {
            [] => creates.push(i),
            [holder] if by_aws_id.contains_key(holder.id()) => creates.push(i),
            [holder] if managed_of_kind.contains_key(holder.id()) && !held.contains(holder.id()) => creates.push(i),
            [holder]
                if adopt_by_name
                    && !managed_of_kind.contains_key(holder.id())
                    && !foreign_object_id(holder.external_id(), ext) =>
            {
                adoption_claims.entry(holder.id()).or_default().push(i)
            }
            [holder] => conflicts.push(conflict(
                ext,
                name,
                holder.id(),
                name_conflict_reason(name_attr, holder.external_id(), managed, holder.id()),
            )),
            several => conflicts.push(conflict(
                ext,
                name,
                several[0].id(),
                format!(
                    "several AWS {noun}s hold this {name_attr} without regard to case ({}); scimsync does not guess",
                    several.iter().map(|o| o.id()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
    for (holder_id, claimants) in adoption_claims {
        if let [i] = claimants[..] {
            if let Some(have) = current.iter().find(|o| o.id() == holder_id) {
                matched[i] = Some(have);
                by_aws_id.insert(have.id(), i);
            }
            continue;
        }
        for i in claimants {
            let want = &wanted[i];
            conflicts.push(conflict(
                want.external_id(),
                want.name(),
                holder_id,
                format!("several Entra objects want this AWS {noun} by name; scimsync does not guess"),
            ));
        }
    }
    Matching { matched, by_aws_id, creates }
}

/// Whether `external_id` is the object id (a GUID) of another Entra object than `wanted`: such a
/// holder belongs to someone else (or to a deleted object) and is never adopted by name. Other
/// externalIds (none, or a mailNickname that Entra's own job may have written) can be adopted.
fn foreign_object_id(external_id: Option<&str>, wanted: &str) -> bool {
    external_id.is_some_and(|e| looks_like_object_id(e) && !e.eq_ignore_ascii_case(wanted))
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
fn looks_like_object_id(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
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
    if holder_external.is_some_and(looks_like_object_id)
        && !managed.users.contains_key(holder_id)
        && !managed.groups.contains_key(holder_id)
    {
        format!("{attr} is held by {holder}, the id of another Entra object; scimsync does not guess")
    } else if managed.users.contains_key(holder_id) || managed.groups.contains_key(holder_id) {
        format!("{attr} is held by {holder} that scimsync manages for another Entra object")
    } else {
        format!("{attr} is held by {holder} that scimsync does not manage; set adopt_by_name to take it over")
    }
}
