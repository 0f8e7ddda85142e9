//! The removal guard, like Entra's accidental-deletion protection: a plan that would disable or
//! delete more than a threshold of managed objects has its removals held back. Everything else still
//! applies. One fault upstream (an empty page, a wrong scope filter, an unassigned group) must never
//! turn into a mass removal in AWS, where deleting a user or group destroys its account assignments.

use serde::{Deserialize, Serialize};

use crate::plan::{MemberChange, Plan};

/// Thresholds; removals above either one are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardOptions {
    /// Most users and groups one run may disable or delete.
    pub max_removals: usize,
    /// Most managed objects, in percent, one run may disable or delete…
    pub max_removal_percent: u8,
    /// …once it removes more than this many (so that one leaver in a small directory is not held).
    pub percent_applies_above: usize,
}

impl Default for GuardOptions {
    fn default() -> Self {
        GuardOptions { max_removals: 50, max_removal_percent: 20, percent_applies_above: 3 }
    }
}

/// Removals the guard held back, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub reason: String,
    pub user_removals: usize,
    pub group_removals: usize,
    pub member_removals: usize,
}

/// Counts the disables and deletes in `plan` against the thresholds and `managed` (the number of
/// objects scimsync manages). Above them, every removal — disables, deletes and member removals, since
/// removing someone from every group takes their access as surely as disabling them — is taken out of
/// the plan and returned as [`Held`]. `allow` lifts the guard for one run.
pub fn hold_mass_removals(
    plan: &mut Plan,
    managed: usize,
    options: &GuardOptions,
    allow: bool,
) -> Option<Held> {
    let removals = plan.user_removals.len() + plan.group_removals.len();
    if allow || removals == 0 {
        return None;
    }
    let percent = (removals * 100).checked_div(managed).unwrap_or(100);
    let reason = if managed > 0 && removals >= managed {
        format!(
            "all {managed} managed users and groups would be disabled or deleted; that looks like an empty \
             or failed read of Entra ID, not like intended removals"
        )
    } else if removals > options.max_removals {
        format!(
            "{removals} users and groups would be disabled or deleted, more than max_removals = {}",
            options.max_removals
        )
    } else if removals > options.percent_applies_above && percent > usize::from(options.max_removal_percent) {
        format!(
            "{removals} of the {managed} managed users and groups ({percent}%) would be disabled or deleted, \
             more than max_removal_percent = {}%",
            options.max_removal_percent
        )
    } else {
        return None;
    };
    let member_removals = plan.member_changes.iter().map(|c| c.remove.len()).sum();
    let held = Held {
        reason,
        user_removals: plan.user_removals.len(),
        group_removals: plan.group_removals.len(),
        member_removals,
    };
    plan.user_removals.clear();
    plan.group_removals.clear();
    for change in &mut plan.member_changes {
        change.remove.clear();
    }
    plan.member_changes.retain(|c: &MemberChange| !c.add.is_empty());
    Some(held)
}

/// Whether a complete-looking read of the source is still too strange to act on: Graph listed no
/// user at all (a tenant always holds at least its administrator), or no user is in scope any more
/// while scimsync manages users. Both are what an empty page, a proxy's answer or a broken scope look
/// like; they are refused as a failed read, before any plan exists. `allow` (`--allow-removals`) lets
/// the second through, for an admin who did mean to take everyone out of scope.
pub fn suspicious_source(
    directory: &crate::Directory,
    desired: &crate::Desired,
    managed: &crate::Managed,
    allow: bool,
) -> Option<String> {
    if directory.users.is_empty() {
        return Some(
            "Graph listed no users at all, and a tenant always has at least one; that is an empty or \
             failed read, not an empty directory"
                .into(),
        );
    }
    let read: std::collections::HashSet<&str> = directory.groups.iter().map(|g| g.id.as_str()).collect();
    let missing = directory
        .assignments
        .iter()
        .filter(|a| {
            a.principal_type == crate::PrincipalType::Group && !read.contains(a.principal_id.as_str())
        })
        .count();
    if !allow && missing > 0 && !managed.users.is_empty() {
        return Some(format!(
            "{missing} group(s) assigned to the app were not in the groups Graph listed; that looks like \
             an empty or partial page. If it is meant, run once with --allow-removals"
        ));
    }
    if !allow && desired.users.is_empty() && desired.rejected.is_empty() && !managed.users.is_empty() {
        return Some(format!(
            "no user is in scope any more, while scimsync manages {} users in AWS; that looks like an \
             empty or partial read of Entra ID (or an unassigned app). If it is meant, run once with \
             --allow-removals",
            managed.users.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{MemberName, RemovalMode, Target, UserRemoval};

    fn plan_removing(users: usize, member_removals: usize) -> Plan {
        let mut plan = Plan::default();
        for i in 0..users {
            plan.user_removals.push(UserRemoval {
                id: format!("u{i}"),
                user_name: format!("u{i}"),
                mode: RemovalMode::Disable,
            });
        }
        if member_removals > 0 {
            plan.member_changes.push(MemberChange {
                group: Target::Existing("g".into()),
                group_name: "G".into(),
                add: vec![MemberName { target: Target::New("n".into()), name: "new".into() }],
                remove: (0..member_removals)
                    .map(|i| MemberName { target: Target::Existing(format!("u{i}")), name: format!("u{i}") })
                    .collect(),
            });
        }
        plan
    }

    #[test]
    fn thresholds() {
        let options = GuardOptions::default();
        // (removals, managed, allow, held)
        let cases = [
            (0, 100, false, false),
            (1, 2, false, false),   // one leaver in a tiny directory
            (2, 2, false, true),    // everyone: an empty read is never obeyed
            (3, 5, false, false),   // at percent_applies_above
            (3, 3, false, true),    // everyone, below every threshold
            (4, 100, false, false), // 4%
            (4, 10, false, true),   // 40%
            (20, 100, false, false),
            (21, 100, false, true),
            (50, 1000, false, false),
            (51, 1000, false, true),
            (51, 1000, true, false), // allowed for this run
            (5, 0, false, true),     // removals with nothing managed: a broken state or read
        ];
        for (removals, managed, allow, want_held) in cases {
            let mut plan = plan_removing(removals, 0);
            let held = hold_mass_removals(&mut plan, managed, &options, allow);
            assert_eq!(held.is_some(), want_held, "{removals} of {managed}, allow {allow}: {held:?}");
            assert_eq!(plan.user_removals.is_empty(), want_held || removals == 0, "{removals} of {managed}");
        }
    }

    #[test]
    fn suspicious_reads() {
        use crate::{Desired, Directory, Managed, SourceUser};
        let user = SourceUser { id: "u".into(), user_principal_name: "u@x".into(), ..SourceUser::default() };
        let some = Directory { users: vec![user], ..Directory::default() };
        let mut managed = Managed::default();
        assert!(suspicious_source(&Directory::default(), &Desired::default(), &managed, true).is_some());
        assert_eq!(suspicious_source(&some, &Desired::default(), &managed, false), None);
        managed.users.insert("aws-1".into(), "u".into());
        let why = suspicious_source(&some, &Desired::default(), &managed, false).expect("suspicious");
        assert!(why.contains("--allow-removals"), "{why}");
        assert_eq!(suspicious_source(&some, &Desired::default(), &managed, true), None);
    }

    #[test]
    fn a_held_plan_keeps_its_additions_and_drops_every_removal() {
        let mut plan = plan_removing(60, 60);
        let held = hold_mass_removals(&mut plan, 100, &GuardOptions::default(), false).expect("held");
        assert_eq!((held.user_removals, held.member_removals), (60, 60));
        assert!(held.reason.contains("max_removals = 50"), "{}", held.reason);
        assert!(plan.user_removals.is_empty());
        assert_eq!(plan.member_changes.len(), 1);
        assert!(plan.member_changes[0].remove.is_empty());
        assert_eq!(plan.member_changes[0].add.len(), 1);
    }
}
