//! Table-driven tests of scoping: modes, group choices, nesting, user scoping filters.

use std::collections::{BTreeMap, BTreeSet};

use scimsync_core::scope::{
    Clause, GroupSelection, Operator, ScopeMode, UserFilter, glob, passes_filters, resolve,
};
use scimsync_core::{
    Assignment, Directory, MemberKind, MemberRef, Nesting, PrincipalType, ScopeOptions, SourceGroup,
    SourceUser, desired,
};

fn user(id: &str) -> SourceUser {
    SourceUser {
        id: id.into(),
        user_principal_name: format!("{id}@contoso.example"),
        display_name: Some(format!("User {id}")),
        given_name: Some("Given".into()),
        surname: Some("Family".into()),
        account_enabled: true,
        ..Default::default()
    }
}

fn group(id: &str, name: &str, members: &[&str]) -> SourceGroup {
    SourceGroup {
        id: id.into(),
        display_name: name.into(),
        members: members
            .iter()
            .map(|m| MemberRef {
                id: m.to_string(),
                kind: match m.chars().next() {
                    Some('u') => MemberKind::User,
                    Some('g') => MemberKind::Group,
                    _ => MemberKind::Other("device".into()),
                },
            })
            .collect(),
    }
}

/// AWS-Admins (g1) ⊃ Platform (g2) ⊃ SRE (g3); AWS-Dev (g4); Finance (g5). g1 and u5 assigned.
fn directory() -> Directory {
    Directory {
        users: ["u1", "u2", "u3", "u4", "u5", "u6"].iter().map(|id| user(id)).collect(),
        groups: vec![
            group("g1", "AWS-Admins", &["u1", "g2", "d1"]),
            group("g2", "Platform", &["u2", "g3"]),
            group("g3", "SRE", &["u3", "g1"]),
            group("g4", "AWS-Dev", &["u4"]),
            group("g5", "Finance", &["u6"]),
        ],
        assignments: vec![
            Assignment { principal_id: "g1".into(), principal_type: PrincipalType::Group },
            Assignment { principal_id: "u5".into(), principal_type: PrincipalType::User },
        ],
        filtered_groups: vec!["g5".into()],
        ..Default::default()
    }
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn scope_modes_and_nesting() {
    struct Case {
        name: &'static str,
        options: ScopeOptions,
        users: &'static [&'static str],
        groups: &'static [(&'static str, &'static [&'static str])],
    }
    let groups = |names: &[&str], ids: &[&str], filter: bool| GroupSelection {
        names: names.iter().map(|s| s.to_string()).collect(),
        ids: ids.iter().map(|s| s.to_string()).collect(),
        filter: filter.then(|| "startswith(displayName,'Fin')".to_string()),
    };
    let cases = vec![
        Case {
            name: "assigned, flattened (default)",
            options: ScopeOptions::default(),
            users: &["u1", "u2", "u3", "u5"],
            groups: &[("g1", &["u1", "u2", "u3"])],
        },
        Case {
            name: "assigned, nesting ignored",
            options: ScopeOptions { nesting: Nesting::Ignore, ..Default::default() },
            users: &["u1", "u5"],
            groups: &[("g1", &["u1"])],
        },
        Case {
            name: "assigned, flattened and nested groups created (the cycle ends)",
            options: ScopeOptions { nesting: Nesting::FlattenAndCreate, ..Default::default() },
            users: &["u1", "u2", "u3", "u5"],
            groups: &[("g1", &["u1", "u2", "u3"]), ("g2", &["u1", "u2", "u3"]), ("g3", &["u1", "u2", "u3"])],
        },
        Case {
            name: "all users and groups",
            options: ScopeOptions { mode: ScopeMode::All, nesting: Nesting::Ignore, ..Default::default() },
            users: &["u1", "u2", "u3", "u4", "u5", "u6"],
            groups: &[("g1", &["u1"]), ("g2", &["u2"]), ("g3", &["u3"]), ("g4", &["u4"]), ("g5", &["u6"])],
        },
        Case {
            name: "groups by name pattern",
            options: ScopeOptions {
                mode: ScopeMode::Groups,
                groups: groups(&["aws-*"], &[], false),
                nesting: Nesting::Ignore,
                ..Default::default()
            },
            users: &["u1", "u4"],
            groups: &[("g1", &["u1"]), ("g4", &["u4"])],
        },
        Case {
            name: "groups by id",
            options: ScopeOptions {
                mode: ScopeMode::Groups,
                groups: groups(&[], &["g2"], false),
                ..Default::default()
            },
            users: &["u1", "u2", "u3"],
            groups: &[("g2", &["u1", "u2", "u3"])],
        },
        Case {
            name: "groups by Graph $filter (its result read with the directory)",
            options: ScopeOptions {
                mode: ScopeMode::Groups,
                groups: groups(&[], &[], true),
                ..Default::default()
            },
            users: &["u6"],
            groups: &[("g5", &["u6"])],
        },
    ];
    for case in cases {
        let mut dir = directory();
        if case.options.groups.filter.is_none() {
            dir.filtered_groups.clear();
        }
        let scope = resolve(&dir, &case.options);
        assert_eq!(scope.users, set(case.users), "{}", case.name);
        let want: BTreeMap<String, BTreeSet<String>> =
            case.groups.iter().map(|(g, m)| (g.to_string(), set(m))).collect();
        assert_eq!(scope.groups, want, "{}", case.name);
    }
}

#[test]
fn a_non_user_member_is_skipped_and_counted() {
    let want = desired(&directory(), &ScopeOptions::default());
    assert_eq!(want.skipped_members.values().sum::<usize>(), 1);
}

fn clause(attribute: &str, operator: &str, value: Option<&str>) -> Clause {
    Clause {
        attribute: attribute.into(),
        operator: operator.parse().expect("operator"),
        value: value.map(str::to_string),
    }
}

#[test]
fn user_scoping_filter_operators() {
    let mut u = user("u1");
    u.department = Some("Engineering".into());
    u.user_type = Some("Member".into());
    u.employee_id = Some("1042".into());
    u.mail = Some("ada@contoso.example".into());
    // (attribute, operator as Entra spells it, value, expected)
    let rows: &[(&str, &str, Option<&str>, bool)] = &[
        ("department", "EQUALS", Some("Engineering"), true),
        ("department", "EQUALS", Some("engineering"), false),
        ("Department", "NOT EQUALS", Some("Sales"), true),
        ("jobTitle", "NOT EQUALS", Some("Sales"), true),
        ("accountEnabled", "IS TRUE", None, true),
        ("accountEnabled", "IS FALSE", None, false),
        ("jobTitle", "IS NULL", None, true),
        ("mail", "IS NOT NULL", None, true),
        ("mail", "Includes", Some("@contoso."), true),
        ("mail", "ENDS_WITH", Some("@contoso.example"), true),
        ("mail", "ends with", Some("@fabrikam.example"), false),
        ("userPrincipalName", "REGEX MATCH", Some("^u[0-9]+@"), true),
        ("userPrincipalName", "NOT REGEX MATCH", Some("#EXT#"), true),
        ("jobTitle", "REGEX MATCH", Some(".*"), false),
        ("employeeId", "Greater_Than", Some("1000"), true),
        ("employeeId", "GREATER_THAN", Some("1042"), false),
        ("employeeId", "Greater_Than_OR_EQUALS", Some("1042"), true),
        ("department", "Greater_Than", Some("1"), false),
    ];
    for (attribute, op, value, expected) in rows {
        let filter = UserFilter { clauses: vec![clause(attribute, op, *value)] };
        assert_eq!(passes_filters(&u, &[filter]), *expected, "{attribute} {op} {value:?}");
    }
}

#[test]
fn clauses_are_and_ed_and_filters_or_ed() {
    let mut engineer = user("u1");
    engineer.department = Some("Engineering".into());
    let mut guest = user("u2");
    guest.user_type = Some("Guest".into());
    let engineers_who_are_members = UserFilter {
        clauses: vec![
            clause("department", "EQUALS", Some("Engineering")),
            clause("userType", "NOT EQUALS", Some("Guest")),
        ],
    };
    let guests = UserFilter { clauses: vec![clause("userType", "EQUALS", Some("Guest"))] };
    let cases = [
        (vec![engineers_who_are_members.clone()], [true, false]),
        (vec![guests.clone()], [false, true]),
        (vec![engineers_who_are_members, guests], [true, true]),
        (vec![], [true, true]),
    ];
    for (filters, [a, b]) in cases {
        assert_eq!(
            (passes_filters(&engineer, &filters), passes_filters(&guest, &filters)),
            (a, b),
            "{filters:?}"
        );
    }
}

#[test]
fn a_filtered_out_user_is_out_of_scope_and_no_group_member() {
    let mut dir = directory();
    dir.users[1].department = Some("Sales".into());
    let options = ScopeOptions {
        user_filters: vec![UserFilter { clauses: vec![clause("department", "NOT EQUALS", Some("Sales"))] }],
        ..Default::default()
    };
    let scope = resolve(&dir, &options);
    assert!(!scope.users.contains("u2"));
    assert_eq!(scope.filtered_out, set(&["u2"]));
    assert_eq!(scope.groups["g1"], set(&["u1", "u3"]));
}

#[test]
fn bad_options_are_reported() {
    let bad = |c: Clause| ScopeOptions {
        user_filters: vec![UserFilter { clauses: vec![c] }],
        ..Default::default()
    };
    let cases = [
        (bad(clause("department", "EQUALS", None)), "needs a value"),
        (bad(clause("department", "IS NULL", Some("x"))), "takes no value"),
        (bad(clause("shoeSize", "EQUALS", Some("x"))), "unknown attribute"),
        (bad(clause("mail", "REGEX MATCH", Some("(unclosed"))), "regular expression"),
        (bad(clause("employeeId", "Greater_Than", Some("ten"))), "integer"),
        (ScopeOptions { mode: ScopeMode::Groups, ..Default::default() }, "needs at least one"),
        (
            ScopeOptions {
                groups: GroupSelection { names: vec!["AWS-*".into()], ..Default::default() },
                ..Default::default()
            },
            "only with mode",
        ),
    ];
    for (options, want) in cases {
        let problems = options.problems();
        assert!(problems.iter().any(|p| p.contains(want)), "{want}: {problems:?}");
    }
    assert!("SOMETIMES".parse::<Operator>().is_err());
    assert!(ScopeOptions::default().problems().is_empty());
}

#[test]
fn glob_patterns() {
    for (pattern, text, want) in [
        ("AWS-*", "AWS-Admins", true),
        ("aws-*", "AWS-Admins", true),
        ("AWS-*", "Platform", false),
        ("*-Admins", "AWS-Admins", true),
        ("AWS-?ev", "AWS-Dev", true),
        ("AWS-?ev", "AWS-Devs", false),
        ("*", "", true),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXbYY", false),
    ] {
        assert_eq!(glob(pattern, text), want, "{pattern} ~ {text}");
    }
}

#[test]
fn group_choices_that_match_no_group_are_reported() {
    // (names, ids, filter result empty, what is reported)
    type Case<'a> = (&'a [&'a str], &'a [&'a str], Option<bool>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (&["aws-*"], &["g2"], None, vec![]),
        (&["aws-*", "Nobody-*"], &[], None, vec!["Nobody-*"]),
        (&[], &["g2", "g-missing"], None, vec!["g-missing"]),
        (&[], &[], Some(true), vec!["$filter"]),
        (&[], &[], Some(false), vec![]),
    ];
    let groups = |names: &[&str], ids: &[&str], filter: bool| GroupSelection {
        names: names.iter().map(|s| s.to_string()).collect(),
        ids: ids.iter().map(|s| s.to_string()).collect(),
        filter: filter.then(|| "startswith(displayName,'Fin')".to_string()),
    };
    for (names, ids, filter_empty, want) in cases {
        let mut dir = directory();
        if filter_empty == Some(true) || filter_empty.is_none() {
            dir.filtered_groups.clear();
        }
        let options = ScopeOptions {
            mode: ScopeMode::Groups,
            groups: groups(names, ids, filter_empty.is_some()),
            ..Default::default()
        };
        let got = desired(&dir, &options).unmatched_groups;
        assert_eq!(got.len(), want.len(), "{names:?} {ids:?}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.starts_with(w), "{got:?} vs {want:?}");
        }
    }
    // Assigned mode never reports group choices.
    assert!(desired(&directory(), &ScopeOptions::default()).unmatched_groups.is_empty());
}

#[test]
fn the_users_the_filters_leave_out_are_counted() {
    let mut dir = directory();
    dir.users[1].department = Some("Sales".into());
    let options = ScopeOptions {
        user_filters: vec![UserFilter { clauses: vec![clause("department", "NOT EQUALS", Some("Sales"))] }],
        ..Default::default()
    };
    assert_eq!(desired(&dir, &options).filtered_out, 1);
    assert_eq!(desired(&dir, &ScopeOptions::default()).filtered_out, 0);
}

#[test]
fn app_roles_reach_users_directly_and_through_groups() {
    use scimsync_core::mapping::{Mapping, MappingConfig, SourceSpec};
    let config = MappingConfig {
        attributes: [(
            "title".to_string(),
            SourceSpec::Expression("SingleAppRoleAssignment([appRoleAssignments])".into()),
        )]
        .into(),
        ..Default::default()
    };
    let mapping = Mapping::compile(&config).expect("compiles");
    assert!(mapping.reads("appRoleAssignments"));
    assert!(!Mapping::default().reads("appRoleAssignments"));
    // g1 (AWS-Admins ⊃ Platform ⊃ SRE) holds "Admin"; u5 holds "msiam_access" directly; u1 also
    // "Auditor" directly (the first by name wins).
    let mut dir = directory();
    dir.app_roles = [
        ("g1".to_string(), vec!["Admin".to_string()]),
        ("u5".to_string(), vec!["msiam_access".to_string()]),
        ("u1".to_string(), vec!["Auditor".to_string()]),
    ]
    .into();
    // (nesting, user → title)
    let cases = [
        (
            Nesting::Flatten,
            vec![
                ("u1", Some("Admin")),
                ("u2", Some("Admin")),
                ("u3", Some("Admin")),
                ("u5", Some("msiam_access")),
            ],
        ),
        (Nesting::Ignore, vec![("u1", Some("Admin")), ("u5", Some("msiam_access"))]),
    ];
    for (nesting, want) in cases {
        let options = ScopeOptions { nesting, ..Default::default() };
        let got: BTreeMap<String, Option<String>> = scimsync_core::desired_with(&dir, &options, &mapping)
            .users
            .into_iter()
            .map(|u| (u.external_id, u.values.title))
            .collect();
        let want: BTreeMap<String, Option<String>> =
            want.into_iter().map(|(u, t)| (u.to_string(), t.map(str::to_string))).collect();
        assert_eq!(got, want, "{nesting:?}");
    }
    // Without roles read, nothing is mapped.
    let plain = scimsync_core::desired_with(&directory(), &ScopeOptions::default(), &mapping);
    assert!(plain.users.iter().all(|u| u.values.title.is_none()));
}
