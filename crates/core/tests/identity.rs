//! Identity: objects are keyed by the Entra object id; renames are updates in place; names are
//! handed over in an order AWS accepts (swaps, re-created users); adoption never guesses; removals
//! wait for the grace period. Each case runs the plan against an in-memory AWS that refuses
//! duplicate userNames, emails and group names (a 409), then plans again: the second plan is empty.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::source_user as user;
use scimsync_core::plan::{ObjectKind, Target};
use scimsync_core::{
    Assignment, AttrValue, Current, Directory, Managed, MemberKind, MemberRef, Plan, PlanOptions,
    PrincipalType, RemovalMode, ScopeOptions, SourceGroup, SourceUser, TargetGroup, TargetUser, UserAttr,
    UserValues, desired, plan,
};

fn group(id: &str, members: &[&str]) -> SourceGroup {
    SourceGroup {
        id: id.into(),
        display_name: format!("Group {id}"),
        members: members.iter().map(|m| MemberRef { id: m.to_string(), kind: MemberKind::User }).collect(),
    }
}

/// u1, u2, u3 in g1; g2 = {u3}; both groups assigned.
fn directory() -> Directory {
    Directory {
        users: ["u1", "u2", "u3"].iter().map(|id| user(id)).collect(),
        groups: vec![group("g1", &["u1", "u2", "u3"]), group("g2", &["u3"])],
        assignments: ["g1", "g2"]
            .iter()
            .map(|g| Assignment { principal_id: g.to_string(), principal_type: PrincipalType::Group })
            .collect(),
        ..Default::default()
    }
}

/// An in-memory AWS with the uniqueness rules of IAM Identity Center.
#[derive(Default, Clone, Debug)]
struct Aws {
    current: Current,
    managed: Managed,
    next: usize,
}

impl Aws {
    fn check_user(&self, id: &str) {
        let me = self.current.users.iter().find(|u| u.id == id).expect("user");
        for other in self.current.users.iter().filter(|u| u.id != id) {
            let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
            assert!(
                !same(&other.values.user_name, &me.values.user_name),
                "409: userName {}",
                me.values.user_name
            );
            if let (Some(a), Some(b)) = (&other.values.email, &me.values.email) {
                assert!(!same(a, b), "409: email {a}");
            }
        }
    }

    fn check_group(&self, id: &str) {
        let me = self.current.groups.iter().find(|g| g.id == id).expect("group");
        for other in self.current.groups.iter().filter(|g| g.id != id) {
            assert!(
                other.display_name.to_lowercase() != me.display_name.to_lowercase(),
                "409: displayName {}",
                me.display_name
            );
        }
    }

    fn set(
        values: &mut UserValues,
        external_id: &mut Option<String>,
        attr: UserAttr,
        new: &Option<AttrValue>,
    ) {
        let text = match new {
            Some(AttrValue::Text(t)) => Some(t.clone()),
            _ => None,
        };
        match attr {
            UserAttr::UserName => values.user_name = text.expect("userName"),
            UserAttr::DisplayName => values.display_name = text.expect("displayName"),
            UserAttr::GivenName => values.given_name = text.expect("givenName"),
            UserAttr::FamilyName => values.family_name = text.expect("familyName"),
            UserAttr::Email => values.email = text,
            UserAttr::Active => values.active = matches!(new, Some(AttrValue::Bool(true))),
            UserAttr::Title => values.title = text,
            UserAttr::ExternalId => *external_id = text,
            _ => {}
        }
    }

    fn patch_user(&mut self, id: &str, changes: &[scimsync_core::AttrChange]) {
        let u = self.current.users.iter_mut().find(|u| u.id == id).expect("patched user exists");
        for c in changes {
            Self::set(&mut u.values, &mut u.external_id, c.attr, &c.new);
        }
        self.check_user(id);
    }

    /// Applies in the order `scimsync_sync::apply` does.
    fn apply(&mut self, p: &Plan) {
        for a in &p.adoptions {
            let map =
                if a.kind == ObjectKind::User { &mut self.managed.users } else { &mut self.managed.groups };
            map.insert(a.id.clone(), a.external_id.clone());
        }
        for v in &p.user_vacates {
            self.patch_user(&v.id, &v.changes);
        }
        let mut new: HashMap<String, String> = HashMap::new();
        for c in &p.user_creates {
            self.next += 1;
            let id = format!("aws-new-{}", self.next);
            self.current.users.push(TargetUser {
                id: id.clone(),
                external_id: Some(c.external_id.clone()),
                values: c.values.clone(),
            });
            self.check_user(&id);
            self.managed.users.insert(id.clone(), c.external_id.clone());
            new.insert(c.external_id.clone(), id);
        }
        for u in &p.user_updates {
            self.patch_user(&u.id, &u.changes);
            self.managed.users.insert(u.id.clone(), u.external_id.clone());
        }
        for v in &p.group_vacates {
            self.current.groups.iter_mut().find(|g| g.id == v.id).expect("group").display_name =
                v.display_name.clone();
            self.check_group(&v.id);
        }
        let mut new_groups: HashMap<String, String> = HashMap::new();
        for c in &p.group_creates {
            self.next += 1;
            let id = format!("aws-newg-{}", self.next);
            self.current.groups.push(TargetGroup {
                id: id.clone(),
                external_id: Some(c.external_id.clone()),
                display_name: c.display_name.clone(),
                members: Some(BTreeSet::new()),
            });
            self.check_group(&id);
            self.managed.groups.insert(id.clone(), c.external_id.clone());
            new_groups.insert(c.external_id.clone(), id);
        }
        for u in &p.group_updates {
            let g = self.current.groups.iter_mut().find(|g| g.id == u.id).expect("group");
            if let Some(name) = &u.display_name {
                g.display_name = name.clone();
            }
            g.external_id = Some(u.external_id.clone());
            self.check_group(&u.id);
            self.managed.groups.insert(u.id.clone(), u.external_id.clone());
        }
        let resolve = |t: &Target, m: &HashMap<String, String>| match t {
            Target::Existing(id) => id.clone(),
            Target::New(ext) => m[ext].clone(),
        };
        for c in &p.member_changes {
            let gid = resolve(&c.group, &new_groups);
            let g = self.current.groups.iter_mut().find(|g| g.id == gid).expect("group");
            let members = g.members.get_or_insert_with(BTreeSet::new);
            for m in &c.add {
                members.insert(resolve(&m.target, &new));
            }
            for m in &c.remove {
                members.remove(&resolve(&m.target, &new));
            }
        }
        for r in &p.user_removals {
            match r.mode {
                RemovalMode::Disable => {
                    self.current.users.iter_mut().find(|u| u.id == r.id).expect("user").values.active = false
                }
                RemovalMode::Delete => {
                    self.current.users.retain(|u| u.id != r.id);
                    self.managed.users.remove(&r.id);
                    for g in &mut self.current.groups {
                        g.members.iter_mut().for_each(|m| {
                            m.remove(&r.id);
                        });
                    }
                }
            }
        }
        for r in &p.group_removals {
            self.current.groups.retain(|g| g.id != r.id);
            self.managed.groups.remove(&r.id);
        }
        // What the state remembers: since when each object is out of scope.
        let now = 1_000;
        let out: BTreeSet<&str> = p.scope_exits.iter().map(|e| e.id.as_str()).collect();
        self.managed.user_out_of_scope_since.retain(|id, _| out.contains(id.as_str()));
        self.managed.group_out_of_scope_since.retain(|id, _| out.contains(id.as_str()));
        for e in &p.scope_exits {
            let map = if e.kind == ObjectKind::User {
                &mut self.managed.user_out_of_scope_since
            } else {
                &mut self.managed.group_out_of_scope_since
            };
            map.entry(e.id.clone()).or_insert(now);
        }
    }

    fn user(&self, name: &str) -> &TargetUser {
        self.current
            .users
            .iter()
            .find(|u| u.values.user_name == name)
            .unwrap_or_else(|| panic!("no {name}: {self:#?}"))
    }

    fn group(&self, name: &str) -> &TargetGroup {
        self.current
            .groups
            .iter()
            .find(|g| g.display_name == name)
            .unwrap_or_else(|| panic!("no {name}: {self:#?}"))
    }
}

fn plan_for(dir: &Directory, aws: &Aws, options: &PlanOptions) -> Plan {
    plan(&desired(dir, &ScopeOptions::default()), &aws.current, &aws.managed, options)
}

/// AWS after a first sync of `directory()`.
fn synced(options: &PlanOptions) -> Aws {
    let mut aws = Aws::default();
    let p = plan_for(&directory(), &aws, options);
    aws.apply(&p);
    assert!(plan_for(&directory(), &aws, options).is_empty());
    aws
}

/// Runs an edit through plan + apply; the next plan must be empty (no 409 loop, nothing left).
fn converge(aws: &mut Aws, dir: &Directory, options: &PlanOptions) -> Plan {
    let p = plan_for(dir, aws, options);
    assert!(p.conflicts.is_empty(), "conflicts: {:#?}", p.conflicts);
    aws.apply(&p);
    let again = plan_for(dir, aws, options);
    assert!(again.is_empty(), "second plan not empty: {again:#?}");
    p
}

fn ids(aws: &Aws) -> HashMap<String, String> {
    aws.current.users.iter().map(|u| (u.external_id.clone().unwrap_or_default(), u.id.clone())).collect()
}

#[test]
fn identity_changes_are_updates_in_place() {
    type Edit = fn(&mut Directory);
    struct Case {
        name: &'static str,
        edit: Edit,
        /// (Entra id, the userName it must end with)
        user: (&'static str, &'static str),
        group: Option<&'static str>,
    }
    let cases = [
        Case {
            name: "display name change",
            edit: |d| d.users[0].display_name = Some("Ada L".into()),
            user: ("u1", "u1@contoso.example"),
            group: None,
        },
        Case {
            name: "UPN change",
            edit: |d| d.users[0].user_principal_name = "ada@contoso.example".into(),
            user: ("u1", "ada@contoso.example"),
            group: None,
        },
        Case {
            name: "mail change",
            edit: |d| d.users[0].mail = Some("ada.l@contoso.example".into()),
            user: ("u1", "u1@contoso.example"),
            group: None,
        },
        Case {
            name: "moved to a new mail domain",
            edit: |d| {
                d.users[0].user_principal_name = "u1@fabrikam.example".into();
                d.users[0].mail = Some("u1@fabrikam.example".into());
            },
            user: ("u1", "u1@fabrikam.example"),
            group: None,
        },
        Case {
            name: "case-only UPN change",
            edit: |d| d.users[0].user_principal_name = "U1@Contoso.example".into(),
            user: ("u1", "U1@Contoso.example"),
            group: None,
        },
        Case {
            name: "group rename",
            edit: |d| d.groups[0].display_name = "AWS-Admins".into(),
            user: ("u1", "u1@contoso.example"),
            group: Some("AWS-Admins"),
        },
    ];
    for case in cases {
        let options = PlanOptions::default();
        let mut aws = synced(&options);
        let before = ids(&aws);
        let group_before = aws.group("Group g1").id.clone();
        let mut dir = directory();
        (case.edit)(&mut dir);
        let p = converge(&mut aws, &dir, &options);
        assert!(p.user_creates.is_empty() && p.group_creates.is_empty(), "{}: {p:#?}", case.name);
        assert!(p.user_removals.is_empty() && p.group_removals.is_empty(), "{}", case.name);
        assert_eq!(ids(&aws), before, "{}: every AWS id is kept", case.name);
        let (ext, name) = case.user;
        assert_eq!(aws.user(name).external_id.as_deref(), Some(ext), "{}", case.name);
        if let Some(g) = case.group {
            assert_eq!(aws.group(g).id, group_before, "{}", case.name);
        }
    }
}

#[test]
fn swapped_and_rotated_upns_go_through_temporary_names() {
    type Edit = fn(&mut Directory);
    let swap: Edit = |d| {
        d.users[0].user_principal_name = "u2@contoso.example".into();
        d.users[0].mail = Some("u2@contoso.example".into());
        d.users[1].user_principal_name = "u1@contoso.example".into();
        d.users[1].mail = Some("u1@contoso.example".into());
    };
    let rotate: Edit = |d| {
        d.users[0].user_principal_name = "u2@contoso.example".into();
        d.users[1].user_principal_name = "u3@contoso.example".into();
        d.users[2].user_principal_name = "u1@contoso.example".into();
    };
    let chain: Edit = |d| {
        // u1 takes u2's name, u2 moves to a new one: an order is enough, but a vacate is safe too.
        d.users[0].user_principal_name = "u2@contoso.example".into();
        d.users[1].user_principal_name = "bob@contoso.example".into();
    };
    /// (case, edit, (Entra id, final userName), temporary renames)
    type Case = (&'static str, Edit, &'static [(&'static str, &'static str)], usize);
    let cases: [Case; 3] = [
        ("swap of UPN and mail", swap, &[("u1", "u2@contoso.example"), ("u2", "u1@contoso.example")], 2),
        (
            "rotation of three",
            rotate,
            &[("u1", "u2@contoso.example"), ("u2", "u3@contoso.example"), ("u3", "u1@contoso.example")],
            3,
        ),
        ("chain", chain, &[("u1", "u2@contoso.example"), ("u2", "bob@contoso.example")], 1),
    ];
    for (name, edit, want, vacates) in cases {
        let options = PlanOptions::default();
        let mut aws = synced(&options);
        let before = ids(&aws);
        let mut dir = directory();
        edit(&mut dir);
        let p = converge(&mut aws, &dir, &options);
        assert_eq!(p.user_vacates.len(), vacates, "{name}: {p:#?}");
        assert!(p.user_vacates.iter().all(|v| !v.retired), "{name}");
        assert_eq!(ids(&aws), before, "{name}: ids kept");
        for (ext, user_name) in want {
            assert_eq!(aws.user(user_name).external_id.as_deref(), Some(*ext), "{name}");
        }
    }
}

#[test]
fn a_user_deleted_and_recreated_with_the_same_upn_gets_a_new_aws_user() {
    for (removal, delete_after_secs) in
        [(RemovalMode::Disable, 0), (RemovalMode::Delete, 0), (RemovalMode::Delete, 30 * 86_400)]
    {
        let options = PlanOptions { removal, delete_after_secs, now: 1_000, ..Default::default() };
        let mut aws = synced(&options);
        let old_id = aws.user("u1@contoso.example").id.clone();
        let mut dir = directory();
        dir.users[0].id = "u1-new".into();
        dir.groups[0].members[0].id = "u1-new".into();
        let p = converge(&mut aws, &dir, &options);
        assert_eq!(p.user_creates.len(), 1, "{removal:?}: {p:#?}");
        let new = aws.user("u1@contoso.example");
        assert_eq!(new.external_id.as_deref(), Some("u1-new"));
        assert_ne!(new.id, old_id, "the old user's AWS assignments are not handed to the new object");
        assert!(aws.group("Group g1").members.as_ref().expect("read").contains(&new.id));
        let old = aws.current.users.iter().find(|u| u.id == old_id);
        match (removal, delete_after_secs) {
            (RemovalMode::Delete, 0) => assert!(old.is_none(), "deleted"),
            _ => {
                let old = old.expect("kept");
                assert!(!old.values.active, "disabled");
                assert!(old.values.user_name.starts_with("retired-"), "{}", old.values.user_name);
                assert_eq!(old.values.email, None, "its email is freed");
                assert!(!aws.group("Group g1").members.as_ref().expect("read").contains(&old_id));
            }
        }
    }
}

#[test]
fn a_group_recreated_with_the_same_name_and_two_groups_swapping_names() {
    let options = PlanOptions::default();
    let mut aws = synced(&options);
    let old = aws.group("Group g1").id.clone();
    let mut dir = directory();
    dir.groups[0].id = "g1-new".into();
    dir.assignments[0].principal_id = "g1-new".into();
    converge(&mut aws, &dir, &options);
    assert_ne!(aws.group("Group g1").id, old);
    let retired = aws.current.groups.iter().find(|g| g.id == old).expect("kept, emptied");
    assert!(retired.display_name.starts_with("retired-"));
    assert!(retired.members.as_ref().expect("read").is_empty());

    let mut aws = synced(&options);
    let (g1, g2) = (aws.group("Group g1").id.clone(), aws.group("Group g2").id.clone());
    let mut dir = directory();
    dir.groups[0].display_name = "Group g2".into();
    dir.groups[1].display_name = "Group g1".into();
    let p = converge(&mut aws, &dir, &options);
    assert_eq!(p.group_vacates.len(), 2);
    assert_eq!((aws.group("Group g2").id.clone(), aws.group("Group g1").id.clone()), (g1, g2));
}

#[test]
fn adoption_never_guesses() {
    let stranger = |id: &str, name: &str, ext: Option<&str>| TargetUser {
        id: id.into(),
        external_id: ext.map(str::to_string),
        values: UserValues {
            user_name: name.into(),
            display_name: "X".into(),
            given_name: "X".into(),
            family_name: "X".into(),
            active: true,
            ..Default::default()
        },
    };
    let adopt = PlanOptions { adopt_by_name: true, ..Default::default() };
    struct Case {
        name: &'static str,
        aws: Vec<TargetUser>,
        dir: Directory,
        options: PlanOptions,
        /// (adoptions, conflicts, creates)
        counts: (usize, usize, usize),
        reason: &'static str,
    }
    let one = Directory { users: vec![user("u1")], ..Default::default() };
    let mut twins = one.clone();
    twins.users.push(SourceUser {
        id: "u9".into(),
        user_principal_name: "U1@contoso.example".into(),
        mail: None,
        ..user("u9")
    });
    twins.assignments = vec![
        Assignment { principal_id: "u1".into(), principal_type: PrincipalType::User },
        Assignment { principal_id: "u9".into(), principal_type: PrincipalType::User },
    ];
    let mail_twins = Directory {
        users: vec![
            SourceUser { mail: Some("same@x".into()), ..user("u1") },
            SourceUser { mail: Some("SAME@x".into()), ..user("u2") },
        ],
        ..Default::default()
    };
    let cases = vec![
        Case {
            name: "two users, other UPNs, one primary email (differing in case): the email is the clash",
            aws: vec![],
            dir: mail_twins,
            options: PlanOptions::default(),
            counts: (0, 2, 0),
            reason: "the same primary email \"same@x\"",
        },
        Case {
            name: "no externalId, adoption on: adopted",
            aws: vec![stranger("a1", "u1@contoso.example", None)],
            dir: one.clone(),
            options: adopt.clone(),
            counts: (1, 0, 0),
            reason: "",
        },
        Case {
            name: "externalId from Entra's job (a mailNickname), adoption on: adopted",
            aws: vec![stranger("a1", "u1@contoso.example", Some("u1"))],
            dir: Directory {
                users: vec![SourceUser { id: "11111111-2222-3333-4444-555555555555".into(), ..user("u1") }],
                ..Default::default()
            },
            options: adopt.clone(),
            counts: (1, 0, 0),
            reason: "",
        },
        Case {
            name: "no externalId, adoption off: conflict",
            aws: vec![stranger("a1", "u1@contoso.example", None)],
            dir: one.clone(),
            options: PlanOptions::default(),
            counts: (0, 1, 0),
            reason: "adopt_by_name",
        },
        Case {
            name: "held under another Entra object id: conflict even with adoption",
            aws: vec![stranger("a1", "u1@contoso.example", Some("99999999-0000-0000-0000-000000000000"))],
            dir: one.clone(),
            options: adopt.clone(),
            counts: (0, 1, 0),
            reason: "another Entra object",
        },
        Case {
            name: "two candidates differing in case: conflict",
            aws: vec![stranger("a1", "u1@contoso.example", None), stranger("a2", "U1@contoso.example", None)],
            dir: one.clone(),
            options: adopt.clone(),
            counts: (0, 1, 0),
            reason: "several AWS users",
        },
        Case {
            name: "two Entra objects want one AWS user: conflict for both",
            aws: vec![stranger("a1", "u1@contoso.example", None)],
            dir: twins,
            options: adopt.clone(),
            counts: (0, 2, 0),
            reason: "several Entra objects",
        },
    ];
    for case in cases {
        let mut dir = case.dir.clone();
        dir.assignments = dir
            .users
            .iter()
            .map(|u| Assignment { principal_id: u.id.clone(), principal_type: PrincipalType::User })
            .collect();
        dir.groups.clear();
        let current = Current { users: case.aws.clone(), groups: vec![] };
        let p = plan(&desired(&dir, &ScopeOptions::default()), &current, &Managed::default(), &case.options);
        let adoptions = p.adoptions.iter().filter(|a| a.kind == ObjectKind::User).count();
        assert_eq!(
            (adoptions, p.conflicts.len(), p.user_creates.len()),
            case.counts,
            "{}: {p:#?}",
            case.name
        );
        if !case.reason.is_empty() {
            assert!(
                p.conflicts.iter().all(|c| c.reason.to_lowercase().contains(&case.reason.to_lowercase())),
                "{}: {:#?}",
                case.name,
                p.conflicts
            );
            assert!(p.user_updates.is_empty(), "{}: a conflict writes nothing", case.name);
        }
    }
}

#[test]
fn removals_wait_for_the_grace_period() {
    const DAY: u64 = 86_400;
    // (mode, grace, first seen out of scope, now) → (disabled, deleted, delete_due)
    type Row = (RemovalMode, u64, Option<u64>, u64, (usize, usize, Option<u64>));
    let rows: [Row; 6] = [
        (RemovalMode::Disable, 30 * DAY, None, 100 * DAY, (1, 0, None)),
        (RemovalMode::Disable, 0, Some(DAY), 100 * DAY, (0, 0, None)),
        (RemovalMode::Delete, 0, None, 100 * DAY, (0, 1, Some(100 * DAY))),
        (RemovalMode::Delete, 30 * DAY, None, 100 * DAY, (1, 0, Some(130 * DAY))),
        (RemovalMode::Delete, 30 * DAY, Some(80 * DAY), 100 * DAY, (0, 0, Some(110 * DAY))),
        (RemovalMode::Delete, 30 * DAY, Some(70 * DAY), 100 * DAY, (0, 1, Some(100 * DAY))),
    ];
    for (i, (removal, grace, since, now, (disabled, deleted, due))) in rows.into_iter().enumerate() {
        let options = PlanOptions { removal, delete_after_secs: grace, now, ..Default::default() };
        let mut aws = synced(&options);
        let id = aws.user("u1@contoso.example").id.clone();
        if let Some(since) = since {
            // Seen out of scope before, and disabled then.
            aws.managed.user_out_of_scope_since.insert(id.clone(), since);
            aws.current.users.iter_mut().find(|u| u.id == id).expect("u1").values.active = false;
        }
        let mut dir = directory();
        dir.groups[0].members.retain(|m| m.id != "u1");
        let p = plan_for(&dir, &aws, &options);
        let s = p.summary();
        assert_eq!((s.disable, s.delete), (disabled, deleted), "row {i}: {p:#?}");
        let exit = p.scope_exits.iter().find(|e| e.id == id).expect("listed as out of scope");
        assert_eq!((exit.since, exit.delete_due), (since, due), "row {i}");
    }
}

#[test]
fn soft_and_hard_deleted_users_are_disabled_not_deleted_by_default() {
    let options = PlanOptions::default();
    let mut aws = synced(&options);
    let id = aws.user("u2@contoso.example").id.clone();
    // Graph no longer lists a deleted user (soft-deleted users move to deletedItems) nor its memberships.
    let mut dir = directory();
    dir.users.retain(|u| u.id != "u2");
    dir.groups[0].members.retain(|m| m.id != "u2");
    let p = converge(&mut aws, &dir, &options);
    assert_eq!(p.summary().disable, 1);
    let user = aws.current.users.iter().find(|u| u.id == id).expect("kept");
    assert!(!user.values.active);
    // Disabled in Entra: active=false, and the user stays in its groups.
    let mut aws = synced(&options);
    let mut dir = directory();
    dir.users[2].account_enabled = false;
    let p = converge(&mut aws, &dir, &options);
    assert_eq!((p.user_updates.len(), p.summary().disable), (1, 0));
    assert!(!aws.user("u3@contoso.example").values.active);
}
