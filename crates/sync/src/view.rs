//! The AWS view: what AWS holds, as scimsync last read or wrote it. An incremental run plans against
//! it instead of reading AWS, so a run with nothing to change makes no AWS call. The view after an
//! apply is the view before it with the plan's writes applied — computed here, purely — and is kept
//! only when every write succeeded; otherwise the next run reads AWS again.

use std::collections::{BTreeSet, HashMap};

use scimsync_core::plan::Target;
use scimsync_core::{
    AttrValue, Current, Managed, Plan, RemovalMode, TargetGroup, TargetUser, UserAttr, UserValues,
};

/// Sets one attribute; false for an attribute this build does not know how to mirror (the view is
/// then not trusted).
fn set_attr(values: &mut UserValues, attr: UserAttr, value: Option<&AttrValue>) -> bool {
    let text = || match value {
        Some(AttrValue::Text(s)) => Some(s.clone()),
        Some(AttrValue::Bool(b)) => Some(b.to_string()),
        None => None,
    };
    match attr {
        UserAttr::UserName => values.user_name = text().unwrap_or_default(),
        UserAttr::DisplayName => values.display_name = text().unwrap_or_default(),
        UserAttr::GivenName => values.given_name = text().unwrap_or_default(),
        UserAttr::FamilyName => values.family_name = text().unwrap_or_default(),
        UserAttr::Email => values.email = text(),
        UserAttr::Active => values.active = matches!(value, Some(AttrValue::Bool(true))),
        UserAttr::Title => values.title = text(),
        UserAttr::EmployeeNumber => values.employee_number = text(),
        UserAttr::CostCenter => values.cost_center = text(),
        UserAttr::Organization => values.organization = text(),
        UserAttr::Division => values.division = text(),
        UserAttr::Department => values.department = text(),
        UserAttr::NickName => values.nick_name = text(),
        UserAttr::Phone => values.phone = text(),
        UserAttr::StreetAddress => values.street_address = text(),
        UserAttr::Locality => values.locality = text(),
        UserAttr::Region => values.region = text(),
        UserAttr::PostalCode => values.postal_code = text(),
        UserAttr::Country => values.country = text(),
        UserAttr::Manager => values.manager = text(),
        #[allow(unreachable_patterns)]
        _ => return false,
    }
    true
}

/// `current` with every write of `plan` applied; `managed` is the id map after the apply (it resolves
/// what the plan created). `None` when the result cannot be trusted (then AWS is read next time).
pub fn after_apply(current: &Current, plan: &Plan, managed: &Managed) -> Option<Current> {
    let mut view = current.clone();
    let user_ids: HashMap<&str, &str> =
        managed.users.iter().map(|(aws, ext)| (ext.as_str(), aws.as_str())).collect();
    let group_ids: HashMap<&str, &str> =
        managed.groups.iter().map(|(aws, ext)| (ext.as_str(), aws.as_str())).collect();
    let resolve = |target: &Target, ids: &HashMap<&str, &str>| match target {
        Target::Existing(id) => Some(id.clone()),
        Target::New(ext) => ids.get(ext.as_str()).map(|id| (*id).to_owned()),
    };

    for user in &plan.user_creates {
        let id = user_ids.get(user.external_id.as_str())?;
        view.users.retain(|u| u.id != *id);
        view.users.push(TargetUser {
            id: (*id).to_owned(),
            external_id: Some(user.external_id.clone()),
            values: user.values.clone(),
        });
    }
    for update in &plan.user_updates {
        let user = view.users.iter_mut().find(|u| u.id == update.id)?;
        for change in &update.changes {
            if change.attr == UserAttr::ExternalId {
                user.external_id = match &change.new {
                    Some(AttrValue::Text(e)) => Some(e.clone()),
                    _ => None,
                };
            } else if !set_attr(&mut user.values, change.attr, change.new.as_ref()) {
                return None;
            }
        }
    }
    for link in &plan.manager_links {
        let user = resolve(&link.user, &user_ids)?;
        let manager = resolve(&link.manager, &user_ids)?;
        view.users.iter_mut().find(|u| u.id == user)?.values.manager = Some(manager);
    }
    for group in &plan.group_creates {
        let id = group_ids.get(group.external_id.as_str())?;
        view.groups.retain(|g| g.id != *id);
        view.groups.push(TargetGroup {
            id: (*id).to_owned(),
            external_id: Some(group.external_id.clone()),
            display_name: group.display_name.clone(),
            members: Some(BTreeSet::new()),
        });
    }
    for update in &plan.group_updates {
        let group = view.groups.iter_mut().find(|g| g.id == update.id)?;
        if let Some(name) = &update.display_name {
            group.display_name = name.clone();
        }
        group.external_id = Some(update.external_id.clone());
    }
    for change in &plan.member_changes {
        let group_id = resolve(&change.group, &group_ids)?;
        let group = view.groups.iter_mut().find(|g| g.id == group_id)?;
        let members = group.members.get_or_insert_with(BTreeSet::new);
        for add in &change.add {
            members.insert(resolve(&add.target, &user_ids)?);
        }
        for remove in &change.remove {
            members.remove(&resolve(&remove.target, &user_ids)?);
        }
    }
    for removal in &plan.user_removals {
        match removal.mode {
            RemovalMode::Disable => view.users.iter_mut().find(|u| u.id == removal.id)?.values.active = false,
            RemovalMode::Delete => {
                view.users.retain(|u| u.id != removal.id);
                for group in &mut view.groups {
                    if let Some(members) = &mut group.members {
                        members.remove(&removal.id);
                    }
                }
            }
        }
    }
    for removal in &plan.group_removals {
        view.groups.retain(|g| g.id != removal.id);
    }
    Some(view)
}

/// One line per AWS write a plan makes, to compare two plans (what a full reconcile repairs that the
/// view did not know about).
pub fn change_lines(plan: &Plan) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for u in &plan.user_creates {
        lines.insert(format!("create user {}", u.values.user_name));
    }
    for u in &plan.user_updates {
        for c in &u.changes {
            lines.insert(format!("update user {}: {}", u.user_name, c.attr.label()));
        }
    }
    for g in &plan.group_creates {
        lines.insert(format!("create group {}", g.display_name));
    }
    for g in &plan.group_updates {
        lines.insert(format!("update group {}", g.old_name));
    }
    for c in &plan.member_changes {
        for m in &c.add {
            lines.insert(format!("add {} to group {}", m.name, c.group_name));
        }
        for m in &c.remove {
            lines.insert(format!("remove {} from group {}", m.name, c.group_name));
        }
    }
    for r in &plan.user_removals {
        lines.insert(format!("remove user {}", r.user_name));
    }
    for r in &plan.group_removals {
        lines.insert(format!("delete group {}", r.display_name));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimsync_core::{Desired, DesiredGroup, DesiredUser, PlanOptions};

    fn values(name: &str) -> UserValues {
        UserValues {
            user_name: name.into(),
            display_name: name.into(),
            given_name: "G".into(),
            family_name: "F".into(),
            active: true,
            ..UserValues::default()
        }
    }

    /// Applying a plan to the view gives what AWS then holds: planning again finds nothing to do.
    #[test]
    fn the_view_after_apply_needs_no_second_plan() {
        let current = Current {
            users: vec![
                TargetUser { id: "a1".into(), external_id: Some("e1".into()), values: values("one") },
                TargetUser { id: "a2".into(), external_id: Some("e2".into()), values: values("two") },
            ],
            groups: vec![TargetGroup {
                id: "ag".into(),
                external_id: Some("eg".into()),
                display_name: "G".into(),
                members: Some(["a2".to_string()].into()),
            }],
        };
        let mut managed = Managed::default();
        managed.users.insert("a1".into(), "e1".into());
        managed.users.insert("a2".into(), "e2".into());
        managed.groups.insert("ag".into(), "eg".into());
        let mut one = values("one");
        one.title = Some("Boss".into());
        let desired = Desired {
            users: vec![
                DesiredUser { external_id: "e1".into(), values: one },
                DesiredUser { external_id: "e3".into(), values: values("three") },
            ],
            groups: vec![
                DesiredGroup {
                    external_id: "eg".into(),
                    display_name: "G2".into(),
                    members: ["e1".to_string(), "e3".to_string()].into(),
                },
                DesiredGroup {
                    external_id: "eh".into(),
                    display_name: "H".into(),
                    members: ["e1".to_string()].into(),
                },
            ],
            ..Desired::default()
        };
        let plan = scimsync_core::plan(&desired, &current, &managed, &PlanOptions::default());
        assert!(!plan.is_empty());
        // What apply records for the creates.
        managed.users.insert("a3".into(), "e3".into());
        managed.groups.insert("ah".into(), "eh".into());
        let view = after_apply(&current, &plan, &managed).expect("trusted");
        let again = scimsync_core::plan(&desired, &view, &managed, &PlanOptions::default());
        assert!(again.is_empty(), "{again:#?}");
        assert!(!view.users.iter().find(|u| u.id == "a2").unwrap().values.active, "disabled");
    }
}
