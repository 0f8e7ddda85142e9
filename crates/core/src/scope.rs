//! Which users and groups are in scope, with nested groups flattened.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{Directory, MemberKind, PrincipalType, SourceGroup};

/// How members of nested groups are treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Nesting {
    /// A user in a group inside an assigned group is a member of the assigned group (default).
    #[default]
    Flatten,
    /// Only direct user members count, as Entra's own provisioning does.
    Ignore,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeOptions {
    pub nesting: Nesting,
}

/// The result of scoping: the users and groups to keep in AWS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Entra object ids of the users in scope.
    pub users: BTreeSet<String>,
    /// Entra object id of each group in scope → the Entra object ids of its user members
    /// (flattened according to [`Nesting`]).
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// Members that are neither users nor groups (devices, service principals, contacts), counted once each.
    pub skipped_members: BTreeMap<String, usize>,
    /// Assignments that name an object the read did not return (deleted, or not a user or group).
    pub dangling_assignments: Vec<String>,
}

/// Computes the scope: the users and groups assigned to the application, plus the user members of
/// the assigned groups. Membership cycles terminate.
pub fn resolve(directory: &Directory, options: &ScopeOptions) -> Scope {
    let groups: HashMap<&str, &SourceGroup> = directory.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let users: BTreeSet<&str> = directory.users.iter().map(|u| u.id.as_str()).collect();
    let mut scope = Scope::default();
    let mut skipped: BTreeSet<(String, String)> = BTreeSet::new();

    for assignment in &directory.assignments {
        let id = assignment.principal_id.as_str();
        match assignment.principal_type {
            PrincipalType::User if users.contains(id) => {
                scope.users.insert(id.to_string());
            }
            PrincipalType::Group => match groups.get(id) {
                Some(group) => {
                    let members = user_members(group, &groups, options.nesting, &mut skipped);
                    // Only members the read returned can be provisioned.
                    let members: BTreeSet<String> =
                        members.into_iter().filter(|m| users.contains(m.as_str())).collect();
                    scope.users.extend(members.iter().cloned());
                    scope.groups.insert(id.to_string(), members);
                }
                None => scope.dangling_assignments.push(id.to_string()),
            },
            PrincipalType::ServicePrincipal => {}
            PrincipalType::User => scope.dangling_assignments.push(id.to_string()),
        }
    }
    for (_, kind) in skipped {
        *scope.skipped_members.entry(kind).or_default() += 1;
    }
    scope
}

/// The user members of `group`: direct ones, and with [`Nesting::Flatten`] those of nested groups at
/// any depth. Each group is visited once, so cycles terminate.
fn user_members(
    group: &SourceGroup,
    groups: &HashMap<&str, &SourceGroup>,
    nesting: Nesting,
    skipped: &mut BTreeSet<(String, String)>,
) -> BTreeSet<String> {
    let mut members = BTreeSet::new();
    let mut visited: BTreeSet<&str> = BTreeSet::from([group.id.as_str()]);
    let mut pending = vec![group];
    while let Some(current) = pending.pop() {
        for member in &current.members {
            match &member.kind {
                MemberKind::User => {
                    members.insert(member.id.clone());
                }
                MemberKind::Group if nesting == Nesting::Flatten => {
                    if let Some(nested) = groups.get(member.id.as_str())
                        && visited.insert(nested.id.as_str())
                    {
                        pending.push(nested);
                    }
                }
                MemberKind::Group => {}
                MemberKind::Other(kind) => {
                    skipped.insert((member.id.clone(), kind.clone()));
                }
            }
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Assignment, MemberRef, SourceUser};

    fn user(id: &str) -> SourceUser {
        SourceUser { id: id.into(), user_principal_name: format!("{id}@example.com"), ..Default::default() }
    }

    fn group(id: &str, members: &[&str]) -> SourceGroup {
        let members = members
            .iter()
            .map(|m| {
                let kind = match m.chars().next() {
                    Some('u') => MemberKind::User,
                    Some('g') => MemberKind::Group,
                    _ => MemberKind::Other("#microsoft.graph.device".into()),
                };
                MemberRef { id: m.to_string(), kind }
            })
            .collect();
        SourceGroup { id: id.into(), display_name: id.to_uppercase(), members }
    }

    fn assigned(ids: &[&str]) -> Vec<Assignment> {
        ids.iter()
            .map(|id| Assignment {
                principal_id: id.to_string(),
                principal_type: if id.starts_with('g') { PrincipalType::Group } else { PrincipalType::User },
            })
            .collect()
    }

    struct Case {
        name: &'static str,
        groups: Vec<SourceGroup>,
        assigned: &'static [&'static str],
        nesting: Nesting,
        users_in_scope: &'static [&'static str],
        group_members: &'static [(&'static str, &'static [&'static str])],
        skipped: usize,
    }

    #[test]
    fn scope_cases() {
        let cases = vec![
            Case {
                name: "assigned user only",
                groups: vec![],
                assigned: &["u1"],
                nesting: Nesting::Flatten,
                users_in_scope: &["u1"],
                group_members: &[],
                skipped: 0,
            },
            Case {
                name: "direct members of an assigned group",
                groups: vec![group("g1", &["u1", "u2"])],
                assigned: &["g1"],
                nesting: Nesting::Flatten,
                users_in_scope: &["u1", "u2"],
                group_members: &[("g1", &["u1", "u2"])],
                skipped: 0,
            },
            Case {
                name: "nested three deep is flattened",
                groups: vec![group("g1", &["u1", "g2"]), group("g2", &["u2", "g3"]), group("g3", &["u3"])],
                assigned: &["g1"],
                nesting: Nesting::Flatten,
                users_in_scope: &["u1", "u2", "u3"],
                group_members: &[("g1", &["u1", "u2", "u3"])],
                skipped: 0,
            },
            Case {
                name: "nesting ignored as Entra does",
                groups: vec![group("g1", &["u1", "g2"]), group("g2", &["u2"])],
                assigned: &["g1"],
                nesting: Nesting::Ignore,
                users_in_scope: &["u1"],
                group_members: &[("g1", &["u1"])],
                skipped: 0,
            },
            Case {
                name: "a membership cycle terminates",
                groups: vec![group("g1", &["u1", "g2"]), group("g2", &["u2", "g1"])],
                assigned: &["g1", "g2"],
                nesting: Nesting::Flatten,
                users_in_scope: &["u1", "u2"],
                group_members: &[("g1", &["u1", "u2"]), ("g2", &["u1", "u2"])],
                skipped: 0,
            },
            Case {
                name: "devices are skipped and counted once",
                groups: vec![group("g1", &["u1", "d1"]), group("g2", &["d1", "d2"])],
                assigned: &["g1", "g2"],
                nesting: Nesting::Flatten,
                users_in_scope: &["u1"],
                group_members: &[("g1", &["u1"]), ("g2", &[])],
                skipped: 2,
            },
            Case {
                name: "an unassigned group's members are out of scope",
                groups: vec![group("g1", &["u1"]), group("g2", &["u2"])],
                assigned: &["g2"],
                nesting: Nesting::Flatten,
                users_in_scope: &["u2"],
                group_members: &[("g2", &["u2"])],
                skipped: 0,
            },
        ];
        for case in cases {
            let directory = Directory {
                users: ["u1", "u2", "u3"].iter().map(|id| user(id)).collect(),
                groups: case.groups,
                assignments: assigned(case.assigned),
            };
            let scope = resolve(&directory, &ScopeOptions { nesting: case.nesting });
            let want_users: BTreeSet<String> = case.users_in_scope.iter().map(|s| s.to_string()).collect();
            assert_eq!(scope.users, want_users, "{}", case.name);
            let want_groups: BTreeMap<String, BTreeSet<String>> = case
                .group_members
                .iter()
                .map(|(g, ms)| (g.to_string(), ms.iter().map(|m| m.to_string()).collect()))
                .collect();
            assert_eq!(scope.groups, want_groups, "{}", case.name);
            assert_eq!(scope.skipped_members.values().sum::<usize>(), case.skipped, "{}", case.name);
        }
    }

    #[test]
    fn an_assignment_to_a_missing_object_is_reported() {
        let directory = Directory { users: vec![], groups: vec![], assignments: assigned(&["u9", "g9"]) };
        let scope = resolve(&directory, &ScopeOptions::default());
        assert_eq!(scope.dangling_assignments, vec!["u9".to_string(), "g9".to_string()]);
        assert!(scope.users.is_empty());
    }
}
