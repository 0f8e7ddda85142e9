//! Table-driven tests of the planner: each case is a source directory, an AWS state and a state map,
//! and the plan they must give.

mod common;

use std::collections::BTreeSet;

use common::source_user;
use scimsync_core::plan::{ObjectKind, Target};
use scimsync_core::{
    Assignment, Current, Directory, Managed, MemberKind, MemberRef, Plan, PlanOptions, PrincipalType,
    RemovalMode, ScopeOptions, SourceGroup, TargetGroup, TargetUser, UserAttr, UserValues, desired, plan,
};

fn source_group(id: &str, members: &[&str]) -> SourceGroup {
    SourceGroup {
        id: id.into(),
        display_name: format!("Group {id}"),
        members: members
            .iter()
            .map(|m| MemberRef {
                id: m.to_string(),
                kind: if m.starts_with('g') { MemberKind::Group } else { MemberKind::User },
            })
            .collect(),
    }
}

/// A directory of users u1..u4 with group g1 = {u1, u2} assigned.
fn directory() -> Directory {
    Directory {
        users: ["u1", "u2", "u3", "u4"].iter().map(|id| source_user(id)).collect(),
        groups: vec![source_group("g1", &["u1", "u2"])],
        assignments: vec![Assignment { principal_id: "g1".into(), principal_type: PrincipalType::Group }],
        ..Default::default()
    }
}

/// AWS as a previous sync of `dir` left it, with every object managed.
fn synced(dir: &Directory) -> (Current, Managed) {
    let want = desired(dir, &ScopeOptions::default());
    let mut current = Current::default();
    let mut managed = Managed::default();
    for u in &want.users {
        let id = format!("aws-{}", u.external_id);
        current.users.push(TargetUser {
            id: id.clone(),
            external_id: Some(u.external_id.clone()),
            values: u.values.clone(),
        });
        managed.users.insert(id, u.external_id.clone());
    }
    for g in &want.groups {
        let id = format!("aws-{}", g.external_id);
        current.groups.push(TargetGroup {
            id: id.clone(),
            external_id: Some(g.external_id.clone()),
            display_name: g.display_name.clone(),
            members: Some(g.members.iter().map(|m| format!("aws-{m}")).collect()),
        });
        managed.groups.insert(id, g.external_id.clone());
    }
    (current, managed)
}

fn run(dir: &Directory, current: &Current, managed: &Managed, options: &PlanOptions) -> Plan {
    plan(&desired(dir, &ScopeOptions::default()), current, managed, options)
}

#[test]
fn from_an_empty_aws_everything_is_created() {
    let p = run(&directory(), &Current::default(), &Managed::default(), &PlanOptions::default());
    let names: Vec<&str> = p.user_creates.iter().map(|u| u.values.user_name.as_str()).collect();
    assert_eq!(names, ["u1@contoso.example", "u2@contoso.example"]);
    assert_eq!(p.group_creates.len(), 1);
    assert_eq!(p.member_changes.len(), 1);
    let adds: Vec<&Target> = p.member_changes[0].add.iter().map(|m| &m.target).collect();
    assert_eq!(adds, [&Target::New("u1".into()), &Target::New("u2".into())]);
    assert_eq!(p.member_changes[0].group, Target::New("g1".into()));
    let s = p.summary();
    assert_eq!((s.create, s.member_add, s.total()), (3, 2, 5));
}

#[test]
fn a_synced_aws_plans_nothing() {
    let dir = directory();
    let (current, managed) = synced(&dir);
    let p = run(&dir, &current, &managed, &PlanOptions::default());
    assert!(p.is_empty(), "{p:#?}");
    assert!(p.adoptions.is_empty());
    assert!(p.unmanaged.is_empty());
}

/// Edits of the source after a sync, and the writes they must plan.
#[test]
fn source_edits_become_the_least_writes() {
    type Edit = fn(&mut Directory);
    struct Case {
        name: &'static str,
        edit: Edit,
        options: PlanOptions,
        /// (create, update, disable, delete, member_add, member_remove)
        counts: (usize, usize, usize, usize, usize, usize),
    }
    let delete = PlanOptions { removal: RemovalMode::Delete, ..Default::default() };
    let cases = [
        Case {
            name: "a renamed user is one update of userName",
            edit: |d| d.users[0].user_principal_name = "ada@new.example".into(),
            options: PlanOptions::default(),
            counts: (0, 1, 0, 0, 0, 0),
        },
        Case {
            name: "a user removed from the assigned group is disabled and removed",
            edit: |d| d.groups[0].members.retain(|m| m.id != "u2"),
            options: PlanOptions::default(),
            counts: (0, 0, 1, 0, 0, 1),
        },
        Case {
            name: "with deletes configured the user is deleted",
            edit: |d| d.groups[0].members.retain(|m| m.id != "u2"),
            options: delete.clone(),
            counts: (0, 0, 0, 1, 0, 1),
        },
        Case {
            name: "a user disabled in Entra is one update of active",
            edit: |d| d.users[1].account_enabled = false,
            options: PlanOptions::default(),
            counts: (0, 1, 0, 0, 0, 0),
        },
        Case {
            name: "a user added to the group is created and added",
            edit: |d| d.groups[0].members.push(MemberRef { id: "u3".into(), kind: MemberKind::User }),
            options: PlanOptions::default(),
            counts: (1, 0, 0, 0, 1, 0),
        },
        Case {
            name: "a renamed group is one update",
            edit: |d| d.groups[0].display_name = "Renamed".into(),
            options: PlanOptions::default(),
            counts: (0, 1, 0, 0, 0, 0),
        },
        Case {
            name: "an unassigned group is emptied, not deleted, and its users disabled",
            edit: |d| d.assignments.clear(),
            options: PlanOptions::default(),
            counts: (0, 0, 2, 0, 0, 2),
        },
        Case {
            name: "an unassigned group is deleted when deletes are configured",
            edit: |d| d.assignments.clear(),
            options: delete,
            counts: (0, 0, 0, 3, 0, 0),
        },
        Case {
            name: "a nested group's members are added to the assigned group",
            edit: |d| {
                d.groups.push(source_group("g2", &["u3", "u4"]));
                d.groups[0].members.push(MemberRef { id: "g2".into(), kind: MemberKind::Group });
            },
            options: PlanOptions::default(),
            counts: (2, 0, 0, 0, 2, 0),
        },
        Case {
            name: "a user who loses a surname is rejected, and stays as AWS has them",
            edit: |d| d.users[0].surname = None,
            options: PlanOptions::default(),
            counts: (0, 0, 0, 0, 0, 0),
        },
    ];
    for case in cases {
        let before = directory();
        let (current, managed) = synced(&before);
        let mut after = before.clone();
        (case.edit)(&mut after);
        let p = run(&after, &current, &managed, &case.options);
        let s = p.summary();
        assert_eq!(
            (s.create, s.update, s.disable, s.delete, s.member_add, s.member_remove),
            case.counts,
            "{}: {p:#?}",
            case.name
        );
    }
}

#[test]
fn a_rejected_user_is_reported_not_removed() {
    let dir = directory();
    let (current, managed) = synced(&dir);
    let mut after = dir.clone();
    after.users[0].surname = None;
    let p = run(&after, &current, &managed, &PlanOptions::default());
    assert_eq!(p.rejected.len(), 1);
    assert!(p.rejected[0].reasons[0].contains("familyName"));
    assert!(p.user_removals.is_empty(), "a user AWS would refuse is not a user who left: {p:#?}");
}

#[test]
fn a_rename_keeps_the_aws_id() {
    let dir = directory();
    let (current, managed) = synced(&dir);
    let mut renamed = dir.clone();
    renamed.users[0].user_principal_name = "ada@new.example".into();
    let p = run(&renamed, &current, &managed, &PlanOptions::default());
    assert_eq!(p.user_updates.len(), 1);
    assert_eq!(p.user_updates[0].id, "aws-u1");
    assert_eq!(p.user_updates[0].changes.iter().map(|c| c.attr).collect::<Vec<_>>(), [UserAttr::UserName]);
}

#[test]
fn clearing_an_attribute_in_entra_clears_it_in_aws() {
    let mut dir = directory();
    dir.users[0].job_title = Some("Engineer".into());
    let (current, managed) = synced(&dir);
    dir.users[0].job_title = None;
    let p = run(&dir, &current, &managed, &PlanOptions::default());
    let change = &p.user_updates[0].changes[0];
    assert_eq!((change.attr, change.new.clone()), (UserAttr::Title, None));
}

#[test]
fn objects_scimsync_does_not_manage_are_left_alone() {
    let dir = directory();
    let (mut current, mut managed) = synced(&dir);
    // Made in the console: no externalId, not in the state.
    current.users.push(TargetUser {
        id: "console-1".into(),
        external_id: None,
        values: UserValues { user_name: "breakglass".into(), active: true, ..Default::default() },
    });
    current.groups.push(TargetGroup {
        id: "ct-group".into(),
        external_id: None,
        display_name: "AWSControlTowerAdmins".into(),
        members: Some(BTreeSet::from(["console-1".to_string()])),
    });
    // Someone added the console user to a managed group by hand.
    current.groups[0].members.as_mut().expect("read").insert("console-1".into());
    for removal in [RemovalMode::Disable, RemovalMode::Delete] {
        let p = run(&dir, &current, &managed, &PlanOptions { removal, ..Default::default() });
        assert!(p.is_empty(), "{removal:?}: {p:#?}");
        let unmanaged: Vec<(ObjectKind, &str)> =
            p.unmanaged.iter().map(|u| (u.kind, u.name.as_str())).collect();
        assert_eq!(
            unmanaged,
            [(ObjectKind::User, "breakglass"), (ObjectKind::Group, "AWSControlTowerAdmins")]
        );
    }
    // Without a state, even an empty source removes nothing.
    managed.users.clear();
    managed.groups.clear();
    let p = run(&Directory::default(), &current, &managed, &PlanOptions::default());
    assert!(p.is_empty(), "{p:#?}");
}

#[test]
fn a_name_held_by_another_object_is_a_conflict_unless_adoption_is_on() {
    let dir = directory();
    let (mut current, _) = synced(&dir);
    // Same names, but not ours: no externalId and no state.
    for u in &mut current.users {
        u.external_id = None;
    }
    current.groups[0].external_id = None;
    let managed = Managed::default();

    let p = run(&dir, &current, &managed, &PlanOptions::default());
    assert_eq!(p.conflicts.len(), 3, "{p:#?}");
    assert!(p.is_empty(), "a conflict writes nothing: {p:#?}");
    assert!(p.conflicts[0].reason.contains("adopt_by_name"), "{}", p.conflicts[0].reason);

    let p = run(&dir, &current, &managed, &PlanOptions { adopt_by_name: true, ..Default::default() });
    assert!(p.conflicts.is_empty());
    assert_eq!(p.adoptions.len(), 3);
    for update in &p.user_updates {
        assert_eq!(update.changes.iter().map(|c| c.attr).collect::<Vec<_>>(), [UserAttr::ExternalId]);
    }
    assert!(p.group_updates.iter().all(|g| g.set_external_id && g.display_name.is_none()));
}

#[test]
fn an_external_id_match_is_adopted_without_writes() {
    let dir = directory();
    let (current, _) = synced(&dir);
    let p = run(&dir, &current, &Managed::default(), &PlanOptions::default());
    assert!(p.is_empty(), "{p:#?}");
    assert_eq!(p.adoptions.len(), 3);
}

#[test]
fn a_rename_onto_a_name_held_by_someone_else_is_a_conflict() {
    let dir = directory();
    let (current, managed) = synced(&dir);
    let mut renamed = dir.clone();
    renamed.users[0].user_principal_name = "u2@contoso.example".into();
    let p = run(&renamed, &current, &managed, &PlanOptions::default());
    assert_eq!(p.conflicts.len(), 1);
    assert!(p.user_updates.is_empty(), "{p:#?}");
}

#[test]
fn the_state_map_finds_an_object_whose_external_id_was_edited_by_hand() {
    let dir = directory();
    let (mut current, managed) = synced(&dir);
    current.users[0].external_id = Some("edited".into());
    let p = run(&dir, &current, &managed, &PlanOptions::default());
    assert_eq!(p.user_updates.len(), 1);
    assert_eq!(p.user_updates[0].changes[0].attr, UserAttr::ExternalId);
    assert!(p.user_creates.is_empty());
}

#[test]
fn a_group_of_150_members_is_planned_whole() {
    let mut dir = directory();
    let ids: Vec<String> = (0..150).map(|i| format!("m{i:03}")).collect();
    dir.users.extend(ids.iter().map(|id| source_user(id)));
    dir.groups[0].members =
        ids.iter().map(|id| MemberRef { id: id.clone(), kind: MemberKind::User }).collect();
    let p = run(&dir, &Current::default(), &Managed::default(), &PlanOptions::default());
    assert_eq!(p.member_changes[0].add.len(), 150);
}
