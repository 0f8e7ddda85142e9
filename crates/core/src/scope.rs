//! Which users and groups are in scope, with nested groups flattened.
//!
//! Scope is chosen by a mode (the app's assignments, everything, or groups picked by name pattern,
//! id or a Graph `$filter`), narrowed by user scoping filters with Entra's operators, and expanded
//! through nested groups as [`Nesting`] says. Everything here is pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{Directory, MemberKind, PrincipalType, SourceGroup, SourceUser};

/// How members of nested groups are treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Nesting {
    /// A user in a group inside an assigned group is a member of the assigned group (default).
    #[default]
    Flatten,
    /// As `Flatten`, and each nested group is also provisioned as its own flat AWS group with its
    /// flattened user members.
    FlattenAndCreate,
    /// Only direct user members count, as Entra's own provisioning does.
    Ignore,
}

/// Where the scope starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeMode {
    /// The users and groups assigned to the enterprise application (default), as Entra's
    /// "Sync only assigned users and groups".
    #[default]
    Assigned,
    /// Every user and every group of the tenant, as Entra's "Sync all users and groups".
    All,
    /// The groups chosen by [`GroupSelection`], and their user members.
    Groups,
}

/// Groups chosen by name pattern, by object id, or by a Graph `$filter` (any of them selects).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSelection {
    /// Glob patterns on the group's display name (`*` any run, `?` one character), without case.
    #[serde(default)]
    pub names: Vec<String>,
    /// Entra object ids.
    #[serde(default)]
    pub ids: Vec<String>,
    /// A Graph `$filter` on /groups, run by the reader; its result is [`Directory::filtered_groups`].
    #[serde(default)]
    pub filter: Option<String>,
}

impl GroupSelection {
    /// Whether the group is selected by a name pattern or its id (the `$filter` result is apart).
    pub fn selects(&self, id: &str, display_name: &str) -> bool {
        self.ids.iter().any(|i| i.eq_ignore_ascii_case(id))
            || self.names.iter().any(|p| glob(p, display_name))
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.ids.is_empty() && self.filter.is_none()
    }
}

/// `*` matches any run of characters, `?` one character; the rest matches itself without case.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// An operator of an Entra scoping-filter clause. Names are read as Entra spells them
/// (`EQUALS`, `NOT EQUALS`, `IS TRUE`, `Greater_Than_OR_EQUALS`, …), without regard to case, and with
/// `_` and space alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// The attribute equals the value exactly (case-sensitive).
    Equals,
    /// The attribute does not equal the value (case-sensitive); an empty attribute is not equal.
    NotEquals,
    /// A boolean attribute is true.
    IsTrue,
    /// A boolean attribute is false (an empty one is not false).
    IsFalse,
    /// The attribute is empty.
    IsNull,
    /// The attribute is not empty.
    IsNotNull,
    /// The attribute contains the value (case-sensitive).
    Includes,
    /// The attribute ends with the value (case-sensitive).
    EndsWith,
    /// The attribute matches the regular expression (anywhere, case-sensitive unless `(?i)`).
    RegexMatch,
    /// The attribute does not match the regular expression; an empty attribute does not match.
    NotRegexMatch,
    /// The attribute, an integer, is greater than the value, an integer.
    GreaterThan,
    /// The attribute, an integer, is greater than or equal to the value, an integer.
    GreaterThanOrEquals,
}

impl Operator {
    const ALL: [(Operator, &'static str); 12] = [
        (Operator::Equals, "EQUALS"),
        (Operator::NotEquals, "NOT EQUALS"),
        (Operator::IsTrue, "IS TRUE"),
        (Operator::IsFalse, "IS FALSE"),
        (Operator::IsNull, "IS NULL"),
        (Operator::IsNotNull, "IS NOT NULL"),
        (Operator::Includes, "Includes"),
        (Operator::EndsWith, "ENDS_WITH"),
        (Operator::RegexMatch, "REGEX MATCH"),
        (Operator::NotRegexMatch, "NOT REGEX MATCH"),
        (Operator::GreaterThan, "Greater_Than"),
        (Operator::GreaterThanOrEquals, "Greater_Than_OR_EQUALS"),
    ];

    /// The name Entra shows.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(o, _)| *o == self).map_or("", |(_, n)| n)
    }

    /// Whether the clause needs a value.
    pub fn takes_value(self) -> bool {
        !matches!(self, Operator::IsTrue | Operator::IsFalse | Operator::IsNull | Operator::IsNotNull)
    }
}

impl std::str::FromStr for Operator {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let norm = |s: &str| s.trim().to_ascii_uppercase().replace(['_', '-'], " ");
        let wanted = norm(text);
        Self::ALL.iter().find(|(_, name)| norm(name) == wanted).map(|(o, _)| *o).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
            format!("unknown scoping operator {text:?}; use one of {}", names.join(", "))
        })
    }
}

impl Serialize for Operator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One condition on one source user attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// A source attribute by its Graph name (`department`, `userType`, `accountEnabled`,
    /// `employeeId`, …), without regard to case.
    pub attribute: String,
    pub operator: Operator,
    #[serde(default)]
    pub value: Option<String>,
}

/// A scoping filter: its clauses are AND-ed. Several filters are OR-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    pub clauses: Vec<Clause>,
}

/// A user attribute by its Graph name (the names the mapping reads, see
/// [`crate::mapping::source_value`]); `None` when empty or unknown. Lists are joined with commas.
pub fn user_attribute(user: &SourceUser, name: &str) -> Option<String> {
    match crate::mapping::source_value(user, name) {
        crate::expr::Value::Null => None,
        crate::expr::Value::Text(text) => Some(text),
        crate::expr::Value::List(values) => Some(values.join(",")),
    }
    .filter(|v| !v.is_empty())
}

impl Clause {
    /// Why the clause cannot be evaluated (an unknown attribute, a missing value, a bad regular
    /// expression, a value that is not an integer), or `None`.
    pub fn problem(&self) -> Option<String> {
        if !crate::mapping::is_source_attribute(&self.attribute) {
            return Some(format!(
                "unknown attribute {:?}; use one of {}",
                self.attribute,
                crate::mapping::source_attribute_names().join(", ")
            ));
        }
        let value = self.value.as_deref();
        match (self.operator.takes_value(), value) {
            (true, None) => return Some(format!("{} needs a value", self.operator.name())),
            (false, Some(_)) => return Some(format!("{} takes no value", self.operator.name())),
            _ => {}
        }
        match self.operator {
            Operator::RegexMatch | Operator::NotRegexMatch => {
                regex::Regex::new(value.unwrap_or_default()).err().map(|e| {
                    format!(
                        "{} {:?} is not a valid regular expression: {e}",
                        self.operator.name(),
                        value.unwrap_or_default()
                    )
                })
            }
            Operator::GreaterThan | Operator::GreaterThanOrEquals => {
                value.unwrap_or_default().trim().parse::<i64>().err().map(|_| {
                    format!(
                        "{} needs an integer value, not {:?}",
                        self.operator.name(),
                        value.unwrap_or_default()
                    )
                })
            }
            _ => None,
        }
    }

    fn matches(&self, user: &SourceUser, regexes: &mut HashMap<String, Option<regex::Regex>>) -> bool {
        let attr = user_attribute(user, &self.attribute);
        let value = self.value.as_deref().unwrap_or_default();
        let mut regex = |pattern: &str| {
            regexes.entry(pattern.to_string()).or_insert_with(|| regex::Regex::new(pattern).ok()).clone()
        };
        let int = |s: &str| s.trim().parse::<i64>().ok();
        match self.operator {
            Operator::Equals => attr.as_deref() == Some(value),
            Operator::NotEquals => attr.as_deref() != Some(value),
            Operator::IsTrue => attr.is_some_and(|a| a.eq_ignore_ascii_case("true")),
            Operator::IsFalse => attr.is_some_and(|a| a.eq_ignore_ascii_case("false")),
            Operator::IsNull => attr.is_none(),
            Operator::IsNotNull => attr.is_some(),
            Operator::Includes => attr.is_some_and(|a| a.contains(value)),
            Operator::EndsWith => attr.is_some_and(|a| a.ends_with(value)),
            // A pattern that does not compile matches nothing, so it never widens the scope
            // (settings refuse such a filter before any plan).
            Operator::RegexMatch => match (attr, regex(value)) {
                (Some(a), Some(re)) => re.is_match(&a),
                _ => false,
            },
            Operator::NotRegexMatch => match (attr, regex(value)) {
                (Some(a), Some(re)) => !re.is_match(&a),
                (None, Some(_)) => true,
                (_, None) => false,
            },
            Operator::GreaterThan => {
                matches!((attr.as_deref().and_then(int), int(value)), (Some(a), Some(v)) if a > v)
            }
            Operator::GreaterThanOrEquals => {
                matches!((attr.as_deref().and_then(int), int(value)), (Some(a), Some(v)) if a >= v)
            }
        }
    }
}

impl UserFilter {
    fn matches(&self, user: &SourceUser, regexes: &mut HashMap<String, Option<regex::Regex>>) -> bool {
        self.clauses.iter().all(|c| c.matches(user, regexes))
    }
}

/// Whether a user passes the scoping filters: no filter, or any filter whose clauses all hold.
pub fn passes_filters(user: &SourceUser, filters: &[UserFilter]) -> bool {
    let mut regexes = HashMap::new();
    filters.is_empty() || filters.iter().any(|f| f.matches(user, &mut regexes))
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeOptions {
    pub nesting: Nesting,
    #[serde(default)]
    pub mode: ScopeMode,
    /// The groups of [`ScopeMode::Groups`].
    #[serde(default)]
    pub groups: GroupSelection,
    /// User scoping filters, OR-ed; a user outside them is out of scope, and no group's member.
    #[serde(default)]
    pub user_filters: Vec<UserFilter>,
}

impl ScopeOptions {
    /// Every problem of the options, for a person: a filter that cannot be evaluated, group choices
    /// without the "groups" mode, the "groups" mode without a choice.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, filter) in self.user_filters.iter().enumerate() {
            if filter.clauses.is_empty() {
                out.push(format!("user filter {} has no clauses", i + 1));
            }
            for (j, clause) in filter.clauses.iter().enumerate() {
                if let Some(p) = clause.problem() {
                    out.push(format!("user filter {}, clause {}: {p}", i + 1, j + 1));
                }
            }
        }
        match self.mode {
            ScopeMode::Groups if self.groups.is_empty() => out.push(
                "mode \"groups\" needs at least one of groups (name patterns), group_ids or group_filter"
                    .into(),
            ),
            ScopeMode::Assigned | ScopeMode::All if !self.groups.is_empty() => out
                .push("groups, group_ids and group_filter choose groups only with mode = \"groups\"".into()),
            _ => {}
        }
        out
    }
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
    /// Assignments (or chosen group ids) that name an object the read did not return.
    pub dangling_assignments: Vec<String>,
    /// Users that would be in scope but for the user scoping filters.
    pub filtered_out: BTreeSet<String>,
    /// Mode "groups": the chosen group ids and name patterns that name no group.
    pub unmatched_groups: Vec<String>,
}

/// Computes the scope: the users and groups the mode starts from, the user members of those groups
/// (through nested groups as [`Nesting`] says), all narrowed by the user scoping filters.
/// Membership cycles terminate.
pub fn resolve(directory: &Directory, options: &ScopeOptions) -> Scope {
    let groups: HashMap<&str, &SourceGroup> = directory.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let all_users: HashMap<&str, &SourceUser> = directory.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut regexes = HashMap::new();
    let filters = &options.user_filters;
    let passing: BTreeSet<&str> = directory
        .users
        .iter()
        .filter(|u| filters.is_empty() || filters.iter().any(|f| f.matches(u, &mut regexes)))
        .map(|u| u.id.as_str())
        .collect();
    let mut scope = Scope::default();
    let mut skipped: BTreeSet<(String, String)> = BTreeSet::new();
    let mut wanted_users: BTreeSet<&str> = BTreeSet::new();
    let mut roots: Vec<&SourceGroup> = Vec::new();

    match options.mode {
        ScopeMode::Assigned => {
            for assignment in &directory.assignments {
                let id = assignment.principal_id.as_str();
                match assignment.principal_type {
                    PrincipalType::User if all_users.contains_key(id) => {
                        wanted_users.insert(id);
                    }
                    PrincipalType::Group => match groups.get(id) {
                        Some(group) => roots.push(group),
                        None => scope.dangling_assignments.push(id.to_string()),
                    },
                    PrincipalType::ServicePrincipal => {}
                    PrincipalType::User => scope.dangling_assignments.push(id.to_string()),
                }
            }
        }
        ScopeMode::All => {
            wanted_users.extend(all_users.keys().copied());
            roots.extend(directory.groups.iter());
        }
        ScopeMode::Groups => {
            let filtered: BTreeSet<&str> = directory.filtered_groups.iter().map(String::as_str).collect();
            roots.extend(directory.groups.iter().filter(|g| {
                options.groups.selects(&g.id, &g.display_name) || filtered.contains(g.id.as_str())
            }));
            for id in &options.groups.ids {
                if !groups.keys().any(|g| g.eq_ignore_ascii_case(id)) {
                    scope.dangling_assignments.push(id.clone());
                    scope.unmatched_groups.push(id.clone());
                }
            }
            for pattern in &options.groups.names {
                if !directory.groups.iter().any(|g| glob(pattern, &g.display_name)) {
                    scope.unmatched_groups.push(pattern.clone());
                }
            }
            if let Some(filter) = &options.groups.filter
                && directory.filtered_groups.is_empty()
            {
                scope.unmatched_groups.push(format!("$filter {filter}"));
            }
        }
    }

    let mut nested_groups: BTreeSet<&str> = BTreeSet::new();
    for root in &roots {
        let nested = add_group(
            &mut scope,
            root,
            &groups,
            &all_users,
            options.nesting,
            &mut skipped,
            &mut wanted_users,
        );
        nested_groups.extend(nested);
    }
    if options.nesting == Nesting::FlattenAndCreate {
        for id in nested_groups {
            if !scope.groups.contains_key(id)
                && let Some(group) = groups.get(id)
            {
                add_group(
                    &mut scope,
                    group,
                    &groups,
                    &all_users,
                    options.nesting,
                    &mut skipped,
                    &mut wanted_users,
                );
            }
        }
    }
    for id in wanted_users {
        if passing.contains(id) {
            scope.users.insert(id.to_string());
        } else {
            scope.filtered_out.insert(id.to_string());
        }
    }
    for members in scope.groups.values_mut() {
        members.retain(|m| passing.contains(m.as_str()));
    }
    for (_, kind) in skipped {
        *scope.skipped_members.entry(kind).or_default() += 1;
    }
    scope
}

/// Puts `group` in scope with its user members; returns the nested groups it reached.
fn add_group<'a>(
    scope: &mut Scope,
    group: &'a SourceGroup,
    groups: &HashMap<&'a str, &'a SourceGroup>,
    all_users: &HashMap<&'a str, &'a SourceUser>,
    nesting: Nesting,
    skipped: &mut BTreeSet<(String, String)>,
    wanted: &mut BTreeSet<&'a str>,
) -> Vec<&'a str> {
    let (members, nested) = user_members(group, groups, nesting, skipped);
    // Only members the read returned can be provisioned.
    let members: BTreeSet<String> =
        members.into_iter().filter(|m| all_users.contains_key(m.as_str())).collect();
    for m in &members {
        if let Some((id, _)) = all_users.get_key_value(m.as_str()) {
            wanted.insert(id);
        }
    }
    scope.groups.insert(group.id.clone(), members);
    nested
}

/// The user members of `group`: direct ones, and unless [`Nesting::Ignore`] those of nested groups
/// at any depth; with the ids of the nested groups visited. Each group is visited once, so cycles
/// terminate.
fn user_members<'a>(
    group: &'a SourceGroup,
    groups: &HashMap<&str, &'a SourceGroup>,
    nesting: Nesting,
    skipped: &mut BTreeSet<(String, String)>,
) -> (BTreeSet<String>, Vec<&'a str>) {
    let mut members = BTreeSet::new();
    let mut visited: BTreeSet<&str> = BTreeSet::from([group.id.as_str()]);
    let mut nested_ids = Vec::new();
    let mut pending = vec![group];
    while let Some(current) = pending.pop() {
        for member in &current.members {
            match &member.kind {
                MemberKind::User => {
                    members.insert(member.id.clone());
                }
                MemberKind::Group if nesting != Nesting::Ignore => {
                    if let Some(nested) = groups.get(member.id.as_str())
                        && visited.insert(nested.id.as_str())
                    {
                        nested_ids.push(nested.id.as_str());
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
    (members, nested_ids)
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
                ..Default::default()
            };
            let scope = resolve(&directory, &ScopeOptions { nesting: case.nesting, ..Default::default() });
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
        let directory = Directory {
            users: vec![],
            groups: vec![],
            assignments: assigned(&["u9", "g9"]),
            ..Default::default()
        };
        let scope = resolve(&directory, &ScopeOptions::default());
        assert_eq!(scope.dangling_assignments, vec!["u9".to_string(), "g9".to_string()]);
        assert!(scope.users.is_empty());
    }
}
