//! Properties of the planner over generated directories and AWS states:
//! applying plan(desired, current) to current gives desired; planning again gives an empty plan; and
//! no input makes the plan change or remove an object scimsync does not manage.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use scimsync_core::plan::Target;
use scimsync_core::{
    Assignment, AttrValue, Current, Directory, Managed, MemberKind, MemberRef, Plan, PlanOptions,
    PrincipalType, RemovalMode, ScopeOptions, SourceGroup, SourceUser, TargetGroup, TargetUser, UserAttr,
    UserValues, desired, plan,
};

const USERS: usize = 12;
const GROUPS: usize = 5;

fn user_id(i: usize) -> String {
    format!("00000000-0000-0000-0000-{i:012}")
}

fn group_id(i: usize) -> String {
    format!("00000000-0000-0000-1111-{i:012}")
}

fn source_user() -> impl Strategy<Value = (bool, u8, bool, u8)> {
    // (enabled, name variant, has surname, title variant)
    (any::<bool>(), 0u8..3, prop::bool::weighted(0.9), 0u8..3)
}

prop_compose! {
    fn directory()(
        users in prop::collection::vec(source_user(), USERS),
        members in prop::collection::vec(prop::collection::btree_set(0..USERS + GROUPS, 0..6), GROUPS),
        assigned in prop::collection::btree_set(0..USERS + GROUPS, 0..8),
    ) -> Directory {
        let users = users
            .into_iter()
            .enumerate()
            .map(|(i, (enabled, name, surname, title))| SourceUser {
                id: user_id(i),
                user_principal_name: format!("user{i}.{name}@contoso.example"),
                display_name: Some(format!("User {i}")),
                given_name: Some("Given".into()),
                surname: surname.then(|| format!("Family{i}")),
                mail: Some(format!("user{i}@contoso.example")),
                account_enabled: enabled,
                job_title: (title > 0).then(|| format!("Title {title}")),
                ..Default::default()
            })
            .collect();
        let groups = members
            .into_iter()
            .enumerate()
            .map(|(g, members)| SourceGroup {
                id: group_id(g),
                display_name: format!("Group {g}"),
                members: members
                    .into_iter()
                    .map(|m| {
                        if m < USERS {
                            MemberRef { id: user_id(m), kind: MemberKind::User }
                        } else {
                            MemberRef { id: group_id(m - USERS), kind: MemberKind::Group }
                        }
                    })
                    .collect(),
            })
            .collect();
        let assignments = assigned
            .into_iter()
            .map(|a| {
                if a < USERS {
                    Assignment { principal_id: user_id(a), principal_type: PrincipalType::User }
                } else {
                    Assignment { principal_id: group_id(a - USERS), principal_type: PrincipalType::Group }
                }
            })
            .collect();
        Directory { users, groups, assignments, ..Default::default() }
    }
}

/// What AWS may hold before a run: for each source user, nothing, an object carrying its externalId
/// (managed or not, possibly stale), or an object of someone else holding its userName; plus
/// objects nobody in Entra knows.
#[derive(Debug, Clone, Copy)]
enum Seed {
    Absent,
    Mine { managed: bool, stale: bool, active: bool },
    NameTakenByOther,
}

fn seed() -> impl Strategy<Value = Seed> {
    prop_oneof![
        3 => Just(Seed::Absent),
        4 => (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(managed, stale, active)| Seed::Mine { managed, stale, active }),
        1 => Just(Seed::NameTakenByOther),
    ]
}

fn values_of(user: &SourceUser) -> UserValues {
    UserValues {
        user_name: user.user_principal_name.clone(),
        display_name: user.display_name.clone().unwrap_or_default(),
        given_name: user.given_name.clone().unwrap_or_default(),
        family_name: user.surname.clone().unwrap_or_else(|| "Placeholder".into()),
        email: user.mail.clone(),
        active: user.account_enabled,
        title: user.job_title.clone(),
        ..Default::default()
    }
}

fn seed_aws(
    dir: &Directory,
    seeds: &[Seed],
    group_seeds: &[(bool, bool)],
    strangers: usize,
) -> (Current, Managed) {
    let mut current = Current::default();
    let mut managed = Managed::default();
    for (user, seed) in dir.users.iter().zip(seeds) {
        match *seed {
            Seed::Absent => {}
            Seed::Mine { managed: is_managed, stale, active } => {
                let id = format!("aws-{}", user.id);
                let mut values = values_of(user);
                values.active = active;
                if stale {
                    values.display_name = "Stale Name".into();
                    values.title = Some("Old title".into());
                }
                current.users.push(TargetUser { id: id.clone(), external_id: Some(user.id.clone()), values });
                if is_managed {
                    managed.users.insert(id, user.id.clone());
                }
            }
            Seed::NameTakenByOther => current.users.push(TargetUser {
                id: format!("other-{}", user.id),
                external_id: None,
                values: UserValues {
                    user_name: user.user_principal_name.clone(),
                    active: true,
                    ..values_of(user)
                },
            }),
        }
    }
    for i in 0..strangers {
        current.users.push(TargetUser {
            id: format!("stranger-{i}"),
            external_id: None,
            values: UserValues { user_name: format!("stranger{i}"), active: true, ..Default::default() },
        });
    }
    let all_aws_users: Vec<String> = current.users.iter().map(|u| u.id.clone()).collect();
    for (group, &(present, is_managed)) in dir.groups.iter().zip(group_seeds) {
        if present {
            let id = format!("aws-{}", group.id);
            current.groups.push(TargetGroup {
                id: id.clone(),
                external_id: Some(group.id.clone()),
                display_name: group.display_name.clone(),
                // Whatever the members were, including strangers added by hand.
                members: Some(all_aws_users.iter().step_by(2).cloned().collect()),
            });
            if is_managed {
                managed.groups.insert(id, group.id.clone());
            }
        }
    }
    current.groups.push(TargetGroup {
        id: "stranger-group".into(),
        external_id: None,
        display_name: "AWSControlTowerAdmins".into(),
        members: Some(BTreeSet::from(["stranger-0".to_string()])),
    });
    (current, managed)
}

fn set(values: &mut UserValues, attr: UserAttr, value: Option<AttrValue>) {
    let text = match &value {
        Some(AttrValue::Text(t)) => Some(t.clone()),
        _ => None,
    };
    match attr {
        UserAttr::UserName => values.user_name = text.unwrap_or_default(),
        UserAttr::DisplayName => values.display_name = text.unwrap_or_default(),
        UserAttr::GivenName => values.given_name = text.unwrap_or_default(),
        UserAttr::FamilyName => values.family_name = text.unwrap_or_default(),
        UserAttr::Email => values.email = text,
        UserAttr::Active => values.active = matches!(value, Some(AttrValue::Bool(true))),
        UserAttr::Title => values.title = text,
        UserAttr::EmployeeNumber => values.employee_number = text,
        UserAttr::CostCenter => values.cost_center = text,
        UserAttr::Organization => values.organization = text,
        UserAttr::Division => values.division = text,
        UserAttr::Department => values.department = text,
        UserAttr::NickName => values.nick_name = text,
        UserAttr::Phone => values.phone = text,
        UserAttr::StreetAddress => values.street_address = text,
        UserAttr::Locality => values.locality = text,
        UserAttr::Region => values.region = text,
        UserAttr::PostalCode => values.postal_code = text,
        UserAttr::Country => values.country = text,
        UserAttr::Manager => values.manager = text,
        UserAttr::ExternalId => {}
    }
}

/// Applies a plan to an in-memory AWS the way `scimsync_sync::apply` does, recording what becomes
/// managed.
fn apply(current: &mut Current, managed: &mut Managed, p: &Plan) {
    for adoption in &p.adoptions {
        let map = match adoption.kind {
            scimsync_core::plan::ObjectKind::User => &mut managed.users,
            scimsync_core::plan::ObjectKind::Group => &mut managed.groups,
        };
        map.insert(adoption.id.clone(), adoption.external_id.clone());
    }
    let mut new_users: HashMap<String, String> = HashMap::new();
    for create in &p.user_creates {
        let id = format!("new-{}", create.external_id);
        current.users.push(TargetUser {
            id: id.clone(),
            external_id: Some(create.external_id.clone()),
            values: create.values.clone(),
        });
        managed.users.insert(id.clone(), create.external_id.clone());
        new_users.insert(create.external_id.clone(), id);
    }
    for update in &p.user_updates {
        let user = current.users.iter_mut().find(|u| u.id == update.id).expect("update of a known user");
        for change in &update.changes {
            if change.attr == UserAttr::ExternalId {
                user.external_id = match &change.new {
                    Some(AttrValue::Text(t)) => Some(t.clone()),
                    _ => None,
                };
            } else {
                set(&mut user.values, change.attr, change.new.clone());
            }
        }
        managed.users.insert(update.id.clone(), update.external_id.clone());
    }
    let mut new_groups: HashMap<String, String> = HashMap::new();
    for create in &p.group_creates {
        let id = format!("new-{}", create.external_id);
        current.groups.push(TargetGroup {
            id: id.clone(),
            external_id: Some(create.external_id.clone()),
            display_name: create.display_name.clone(),
            members: Some(BTreeSet::new()),
        });
        managed.groups.insert(id.clone(), create.external_id.clone());
        new_groups.insert(create.external_id.clone(), id);
    }
    for update in &p.group_updates {
        let group = current.groups.iter_mut().find(|g| g.id == update.id).expect("known group");
        if let Some(name) = &update.display_name {
            group.display_name = name.clone();
        }
        group.external_id = Some(update.external_id.clone());
        managed.groups.insert(update.id.clone(), update.external_id.clone());
    }
    let resolve = |t: &Target, new: &HashMap<String, String>| match t {
        Target::Existing(id) => id.clone(),
        Target::New(ext) => new.get(ext).cloned().expect("created in this plan"),
    };
    for change in &p.member_changes {
        let gid = resolve(&change.group, &new_groups);
        let group = current.groups.iter_mut().find(|g| g.id == gid).expect("known group");
        let members = group.members.get_or_insert_with(BTreeSet::new);
        for m in &change.add {
            members.insert(resolve(&m.target, &new_users));
        }
        for m in &change.remove {
            members.remove(&resolve(&m.target, &new_users));
        }
    }
    for removal in &p.user_removals {
        match removal.mode {
            RemovalMode::Disable => {
                current.users.iter_mut().find(|u| u.id == removal.id).expect("known user").values.active =
                    false
            }
            RemovalMode::Delete => {
                current.users.retain(|u| u.id != removal.id);
                managed.users.remove(&removal.id);
                for g in &mut current.groups {
                    if let Some(m) = &mut g.members {
                        m.remove(&removal.id);
                    }
                }
            }
        }
    }
    for removal in &p.group_removals {
        current.groups.retain(|g| g.id != removal.id);
        managed.groups.remove(&removal.id);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn plan_then_apply_converges_and_never_touches_what_is_not_managed(
        dir in directory(),
        seeds in prop::collection::vec(seed(), USERS),
        group_seeds in prop::collection::vec((any::<bool>(), any::<bool>()), GROUPS),
        strangers in 0usize..3,
        delete in any::<bool>(),
        adopt_by_name in any::<bool>(),
        nesting_ignored in any::<bool>(),
    ) {
        let options = PlanOptions {
            removal: if delete { RemovalMode::Delete } else { RemovalMode::Disable },
            adopt_by_name,
            ..Default::default()
        };
        let scope = ScopeOptions {
            nesting: if nesting_ignored { scimsync_core::Nesting::Ignore } else { scimsync_core::Nesting::Flatten },
            ..Default::default()
        };
        let want = desired(&dir, &scope);
        let (mut current, mut managed) = seed_aws(&dir, &seeds, &group_seeds, strangers);
        let before = current.clone();
        let first = plan(&want, &current, &managed, &options);

        // Nothing unmanaged is updated or removed, and only managed users leave groups.
        let managed_before = managed.clone();
        let ours = |id: &str| {
            managed_before.users.contains_key(id)
                || want.users.iter().any(|u| before.users.iter().any(|t| t.id == id && t.external_id.as_deref() == Some(&u.external_id)))
        };
        for removal in &first.user_removals {
            prop_assert!(managed_before.users.contains_key(&removal.id), "removal of unmanaged {}", removal.id);
        }
        for removal in &first.group_removals {
            prop_assert!(managed_before.groups.contains_key(&removal.id), "removal of unmanaged group {}", removal.id);
        }
        for update in &first.user_updates {
            prop_assert!(ours(&update.id) || adopt_by_name, "update of unmanaged {}", update.id);
        }
        let adopted: BTreeSet<&str> = first.adoptions.iter().map(|a| a.id.as_str()).collect();
        for change in &first.member_changes {
            for m in &change.remove {
                if let Target::Existing(id) = &m.target {
                    let foreign = id.starts_with("stranger") || id.starts_with("other-");
                    prop_assert!(!foreign || adopted.contains(id.as_str()), "removed {id} from a group");
                }
            }
        }

        apply(&mut current, &mut managed, &first);

        // Strangers are exactly as they were.
        for stranger in before.users.iter().filter(|u| u.id.starts_with("stranger")) {
            prop_assert_eq!(Some(stranger), current.users.iter().find(|u| u.id == stranger.id));
        }
        prop_assert!(current.groups.iter().any(|g| g.id == "stranger-group"));

        // Every wanted user that is not in conflict is in AWS as wanted.
        let conflicted: BTreeSet<&str> = first.conflicts.iter().map(|c| c.external_id.as_str()).collect();
        for user in want.users.iter().filter(|u| !conflicted.contains(u.external_id.as_str())) {
            let held = current.users.iter().find(|t| t.external_id.as_deref() == Some(&user.external_id));
            prop_assert!(held.is_some(), "{} missing after apply", user.values.user_name);
            prop_assert_eq!(&held.map(|h| h.values.clone()), &Some(user.values.clone()));
        }

        // And a second plan has nothing left to write.
        let second = plan(&want, &current, &managed, &options);
        prop_assert!(second.is_empty(), "second plan not empty: {:#?}", second);
    }
}
