//! Reading AWS and applying a plan to it, in a safe order: users, groups, members, then removals.
//! Each change that succeeds is recorded in the state at once; a change that fails is reported and the
//! others go on, except those that depend on it.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::{StreamExt, TryStreamExt, stream};
use scimsync_core::plan::{ObjectKind, Target};
use scimsync_core::{Current, Desired, Managed, Plan, RemovalMode};
use scimsync_scim::{ScimClient, ScimError};
use serde::Serialize;

use crate::state::{StateError, StateStore};

/// Reads what AWS holds: every user and group, and the members of the groups this run may change
/// (managed ones, and those matching a wanted group).
pub async fn read_target(
    scim: &ScimClient,
    desired: &Desired,
    managed: &Managed,
    adopt_by_name: bool,
    concurrency: usize,
) -> Result<Current, ScimError> {
    let (users, mut groups) = tokio::try_join!(scim.list_users(), scim.list_groups())?;
    let wanted_ids: HashSet<&str> = desired.groups.iter().map(|g| g.external_id.as_str()).collect();
    let wanted_names: HashSet<String> =
        desired.groups.iter().map(|g| g.display_name.to_lowercase()).collect();
    let needed: Vec<usize> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| {
            managed.groups.contains_key(&g.id)
                || g.external_id.as_deref().is_some_and(|e| wanted_ids.contains(e))
                || (adopt_by_name && wanted_names.contains(&g.display_name.to_lowercase()))
        })
        .map(|(i, _)| i)
        .collect();
    let members: Vec<(usize, BTreeSet<String>)> = stream::iter(needed)
        .map(|i| {
            let id = groups[i].id.clone();
            async move { scim.group_member_ids(&id).await.map(|m| (i, m)) }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    for (i, m) in members {
        groups[i].members = Some(m);
    }
    Ok(Current { users, groups })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    CreateUser,
    UpdateUser,
    DisableUser,
    DeleteUser,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    AddMembers,
    RemoveMembers,
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::CreateUser => "created user",
            Action::UpdateUser => "updated user",
            Action::DisableUser => "disabled user",
            Action::DeleteUser => "deleted user",
            Action::CreateGroup => "created group",
            Action::UpdateGroup => "updated group",
            Action::DeleteGroup => "deleted group",
            Action::AddMembers => "added members to",
            Action::RemoveMembers => "removed members from",
        }
    }
}

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub action: Action,
    /// userName or group name.
    pub name: String,
    /// Extra words for a person: the attributes changed, the member count, "already existed".
    pub detail: String,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub outcomes: Vec<Outcome>,
}

impl ApplyReport {
    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.error.is_some())
    }

    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.error.is_none()).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The state could not be written: stop at once, since AWS and the state would drift apart.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Applies `plan`, recording every success in `state`. Writes of one kind run `concurrency` at a time.
pub async fn apply(
    scim: &ScimClient,
    plan: &Plan,
    state: &StateStore,
    concurrency: usize,
) -> Result<ApplyReport, ApplyError> {
    let concurrency = concurrency.max(1);
    let mut report = ApplyReport::default();
    let mut outcome = |action: Action, name: &str, detail: String, error: Option<String>| {
        report.outcomes.push(Outcome { action, name: name.to_string(), detail, error });
    };

    for adoption in &plan.adoptions {
        state.record(adoption.kind, &adoption.id, &adoption.external_id, &adoption.name)?;
    }

    // Names handed over first, one user at a time: a temporary name for a swap, a retired name for a
    // user that left scope and whose UPN a new Entra object now has. A failure here makes the
    // dependent write fail with a 409 this run; the next run plans the same steps again.
    for vacate in &plan.user_vacates {
        let result = scim.update_user(&vacate.id, &vacate.changes).await;
        if result.is_ok() {
            let name = new_name(&vacate.changes).unwrap_or(&vacate.user_name);
            state.record(ObjectKind::User, &vacate.id, &vacate.external_id, name)?;
        }
        let detail = match (vacate.retired, new_name(&vacate.changes)) {
            (true, Some(name)) => format!("retired as {name:?} to free its userName"),
            (false, Some(name)) => format!("renamed to {name:?} for a moment to free its userName"),
            (_, None) => "email removed to free it".to_string(),
        };
        outcome(Action::UpdateUser, &vacate.user_name, detail, result.err().map(|e| e.to_string()));
    }

    // Entra object id → AWS id of what this run created.
    let mut created_users: HashMap<String, String> = HashMap::new();
    let mut created_groups: HashMap<String, String> = HashMap::new();

    let mut creates = stream::iter(&plan.user_creates)
        .map(|user| async move {
            let result = match scim.create_user(user).await {
                Ok(made) => Ok((made.id, "")),
                // A create that timed out may have succeeded: find it by its externalId and take it.
                Err(ScimError::Conflict(failure)) => {
                    match scim.find_user_by_external_id(&user.external_id).await {
                        Ok(Some(found)) => Ok((found.id, "already existed with this externalId; adopted")),
                        _ => Err(ScimError::Conflict(failure)),
                    }
                }
                Err(e) => Err(e),
            };
            (user, result)
        })
        .buffer_unordered(concurrency);
    while let Some((user, result)) = creates.next().await {
        match result {
            Ok((id, note)) => {
                state.record(ObjectKind::User, &id, &user.external_id, &user.values.user_name)?;
                created_users.insert(user.external_id.clone(), id);
                outcome(Action::CreateUser, &user.values.user_name, note.to_string(), None);
            }
            Err(e) => outcome(Action::CreateUser, &user.values.user_name, String::new(), Some(e.to_string())),
        }
    }
    drop(creates);

    let mut updates = stream::iter(&plan.user_updates)
        .map(|update| async move { (update, scim.update_user(&update.id, &update.changes).await) })
        .buffer_unordered(concurrency);
    while let Some((update, result)) = updates.next().await {
        let detail = update.changes.iter().map(|c| c.attr.label()).collect::<Vec<_>>().join(", ");
        if result.is_ok() {
            let name = new_user_name(update).unwrap_or(&update.user_name);
            state.record(ObjectKind::User, &update.id, &update.external_id, name)?;
        }
        outcome(Action::UpdateUser, &update.user_name, detail, result.err().map(|e| e.to_string()));
    }
    drop(updates);

    // Managers this run created: now that both users exist, point each user at its manager.
    for link in &plan.manager_links {
        let resolved = |target: &Target| match target {
            Target::Existing(id) => Some(id.clone()),
            Target::New(external_id) => created_users.get(external_id).cloned(),
        };
        let (Some(user), Some(manager)) = (resolved(&link.user), resolved(&link.manager)) else {
            outcome(
                Action::UpdateUser,
                &link.user_name,
                "manager".into(),
                Some("skipped: the user or its manager could not be created".into()),
            );
            continue;
        };
        let change = scimsync_core::AttrChange {
            attr: scimsync_core::UserAttr::Manager,
            old: None,
            new: Some(scimsync_core::AttrValue::Text(manager)),
        };
        let result = scim.update_user(&user, std::slice::from_ref(&change)).await;
        let detail = format!("manager {}", link.manager_name);
        outcome(Action::UpdateUser, &link.user_name, detail, result.err().map(|e| e.to_string()));
    }

    for vacate in &plan.group_vacates {
        let result = scim.update_group(&vacate.id, Some(&vacate.display_name), None).await;
        if result.is_ok() {
            state.record(ObjectKind::Group, &vacate.id, &vacate.external_id, &vacate.display_name)?;
        }
        let detail = if vacate.retired {
            format!("retired as {:?} to free its name", vacate.display_name)
        } else {
            format!("renamed to {:?} for a moment to free its name", vacate.display_name)
        };
        outcome(Action::UpdateGroup, &vacate.old_name, detail, result.err().map(|e| e.to_string()));
    }

    let mut group_creates = stream::iter(&plan.group_creates)
        .map(|group| async move {
            let result = match scim.create_group(&group.external_id, &group.display_name).await {
                Ok(made) => Ok((made.id, "")),
                Err(ScimError::Conflict(failure)) => {
                    match scim.find_group_by_external_id(&group.external_id).await {
                        Ok(Some(found)) => Ok((found.id, "already existed with this externalId; adopted")),
                        _ => Err(ScimError::Conflict(failure)),
                    }
                }
                Err(e) => Err(e),
            };
            (group, result)
        })
        .buffer_unordered(concurrency);
    while let Some((group, result)) = group_creates.next().await {
        match result {
            Ok((id, note)) => {
                state.record(ObjectKind::Group, &id, &group.external_id, &group.display_name)?;
                created_groups.insert(group.external_id.clone(), id);
                outcome(Action::CreateGroup, &group.display_name, note.to_string(), None);
            }
            Err(e) => outcome(Action::CreateGroup, &group.display_name, String::new(), Some(e.to_string())),
        }
    }
    drop(group_creates);

    for update in &plan.group_updates {
        let result =
            scim.update_group(&update.id, update.display_name.as_deref(), Some(&update.external_id)).await;
        let detail = match &update.display_name {
            Some(name) => format!("renamed to {name:?}"),
            None => "externalId".to_string(),
        };
        if result.is_ok() {
            let name = update.display_name.as_deref().unwrap_or(&update.old_name);
            state.record(ObjectKind::Group, &update.id, &update.external_id, name)?;
        }
        outcome(Action::UpdateGroup, &update.old_name, detail, result.err().map(|e| e.to_string()));
    }

    // Member changes need the ids of what was just created; a member whose create failed is skipped.
    let resolve = |target: &Target, created: &HashMap<String, String>| match target {
        Target::Existing(id) => Some(id.clone()),
        Target::New(external_id) => created.get(external_id).cloned(),
    };
    let mut member_patches = Vec::new();
    for change in &plan.member_changes {
        let Some(group_id) = resolve(&change.group, &created_groups) else {
            outcome(
                Action::AddMembers,
                &change.group_name,
                String::new(),
                Some("skipped: the group could not be created".into()),
            );
            continue;
        };
        let add: Vec<String> = change.add.iter().filter_map(|m| resolve(&m.target, &created_users)).collect();
        let missing = change.add.len() - add.len();
        let remove: Vec<String> =
            change.remove.iter().filter_map(|m| resolve(&m.target, &created_users)).collect();
        member_patches.push((change, group_id, add, remove, missing));
    }
    let mut patches = stream::iter(member_patches)
        .map(|(change, group_id, add, remove, missing)| async move {
            let result = scim.patch_group_members(&group_id, &add, &remove).await;
            (change, add.len(), remove.len(), missing, result)
        })
        .buffer_unordered(concurrency);
    while let Some((change, added, removed, missing, result)) = patches.next().await {
        let error = result.err().map(|e| e.to_string());
        if added > 0 || missing > 0 {
            let mut detail = format!("{added} added");
            if missing > 0 {
                detail.push_str(&format!(", {missing} skipped because their user could not be created"));
            }
            outcome(Action::AddMembers, &change.group_name, detail, error.clone());
        }
        if removed > 0 {
            outcome(Action::RemoveMembers, &change.group_name, format!("{removed} removed"), error);
        }
    }
    drop(patches);

    let mut removals = stream::iter(&plan.user_removals)
        .map(|removal| async move {
            let result = match removal.mode {
                RemovalMode::Disable => scim.set_user_active(&removal.id, false).await,
                RemovalMode::Delete => scim.delete_user(&removal.id).await,
            };
            (removal, result)
        })
        .buffer_unordered(concurrency);
    while let Some((removal, result)) = removals.next().await {
        let action = match removal.mode {
            RemovalMode::Disable => Action::DisableUser,
            RemovalMode::Delete => Action::DeleteUser,
        };
        if result.is_ok() && removal.mode == RemovalMode::Delete {
            state.forget(ObjectKind::User, &removal.id)?;
        }
        outcome(action, &removal.user_name, String::new(), result.err().map(|e| e.to_string()));
    }
    drop(removals);

    for removal in &plan.group_removals {
        let result = scim.delete_group(&removal.id).await;
        if result.is_ok() {
            state.forget(ObjectKind::Group, &removal.id)?;
        }
        outcome(
            Action::DeleteGroup,
            &removal.display_name,
            String::new(),
            result.err().map(|e| e.to_string()),
        );
    }

    // Since when each managed object is out of scope: the clock of the grace period before a
    // configured deletion. Objects back in scope are forgotten.
    let out: Vec<(ObjectKind, String)> = plan.scope_exits.iter().map(|e| (e.kind, e.id.clone())).collect();
    state.record_scope(&out, unix_now())?;
    Ok(report)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn new_name(changes: &[scimsync_core::AttrChange]) -> Option<&str> {
    changes.iter().find(|c| c.attr == scimsync_core::UserAttr::UserName).and_then(|c| match &c.new {
        Some(scimsync_core::AttrValue::Text(name)) => Some(name.as_str()),
        _ => None,
    })
}

fn new_user_name(update: &scimsync_core::plan::UserUpdate) -> Option<&str> {
    update.changes.iter().find(|c| c.attr == scimsync_core::UserAttr::UserName).and_then(|c| match &c.new {
        Some(scimsync_core::AttrValue::Text(name)) => Some(name.as_str()),
        _ => None,
    })
}
