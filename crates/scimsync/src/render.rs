//! What people read: plans, apply reports and AWS state as text. Colour only on a terminal.

use std::fmt::Write;

use owo_colors::{OwoColorize, Stream};
use scimsync_core::plan::{ObjectKind, Target};
use scimsync_core::{Plan, RemovalMode};
use scimsync_sync::ApplyReport;

/// How many member names to list for one group before summarising.
const MEMBERS_SHOWN: usize = 8;

fn paint(text: &str, colour: fn(&str) -> String) -> String {
    // owo-colors decides per stream whether colour is wanted (a terminal, NO_COLOR unset).
    let mut out = String::new();
    let _ = write!(out, "{}", text.if_supports_color(Stream::Stdout, |t| colour(t)));
    out
}

fn green(t: &str) -> String {
    t.green().to_string()
}
fn yellow(t: &str) -> String {
    t.yellow().to_string()
}
fn red(t: &str) -> String {
    t.red().to_string()
}
fn dim(t: &str) -> String {
    t.dimmed().to_string()
}
fn bold(t: &str) -> String {
    t.bold().to_string()
}

fn names(members: &[scimsync_core::plan::MemberName]) -> String {
    let mut shown: Vec<&str> = members.iter().take(MEMBERS_SHOWN).map(|m| m.name.as_str()).collect();
    shown.sort_unstable();
    let mut text = shown.join(", ");
    if members.len() > MEMBERS_SHOWN {
        let _ = write!(text, " … and {} more", members.len() - MEMBERS_SHOWN);
    }
    text
}

/// The plan for a person: grouped by kind of object, a summary line last.
/// `aws_read` is false for an incremental run, which compared with the state's view of AWS.
pub fn plan(plan: &Plan, guard_held: Option<&scimsync_core::Held>, aws_read: bool) -> String {
    let mut out = String::new();
    let mut section = |title: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            let _ = writeln!(out, "{}", paint(title, bold));
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
            out.push('\n');
        }
    };

    let mut users = Vec::new();
    for vacate in &plan.user_vacates {
        let name = vacate.changes.iter().find_map(|c| match (&c.attr, &c.new) {
            (scimsync_core::UserAttr::UserName, Some(v)) => Some(v.to_string()),
            _ => None,
        });
        let what = match (vacate.retired, name) {
            (true, Some(name)) => {
                format!("left scope; retired as {name} (and email removed) to free its name")
            }
            (false, Some(name)) => format!("first renamed to {name} for a moment, to free its name"),
            (_, None) => "email removed first, to free it".to_string(),
        };
        users.push(format!("{} {}  {what}", paint("~ update ", yellow), vacate.user_name));
    }
    for user in &plan.user_creates {
        users.push(format!(
            "{} {}  ({})",
            paint("+ create ", green),
            user.values.user_name,
            user.values.display_name
        ));
    }
    for update in &plan.user_updates {
        let changes: Vec<String> = update
            .changes
            .iter()
            .map(|c| {
                let show = |v: &Option<scimsync_core::AttrValue>| {
                    v.as_ref().map_or("(none)".to_string(), |v| v.to_string())
                };
                format!("{}: {} → {}", c.attr.label(), show(&c.old), show(&c.new))
            })
            .collect();
        users.push(format!("{} {}  {}", paint("~ update ", yellow), update.user_name, changes.join("; ")));
    }
    for link in &plan.manager_links {
        users.push(format!(
            "{} {}  manager → {} (once created)",
            paint("~ update ", yellow),
            link.user_name,
            link.manager_name
        ));
    }
    for removal in &plan.user_removals {
        let (verb, note) = match removal.mode {
            RemovalMode::Disable => ("- disable", "left scope; active=false, AWS assignments kept"),
            RemovalMode::Delete => ("- delete ", "left scope; deleting removes its AWS assignments"),
        };
        users.push(format!("{} {}  {}", paint(verb, red), removal.user_name, paint(note, dim)));
    }
    section("Users", users);

    let mut groups = Vec::new();
    for vacate in &plan.group_vacates {
        let what = if vacate.retired { "left scope; retired as" } else { "first renamed for a moment to" };
        groups.push(format!(
            "{} {}  {what} {:?}, to free its name",
            paint("~ update ", yellow),
            vacate.old_name,
            vacate.display_name
        ));
    }
    for group in &plan.group_creates {
        groups.push(format!("{} {}", paint("+ create ", green), group.display_name));
    }
    for update in &plan.group_updates {
        let what = match &update.display_name {
            Some(name) => format!("displayName: {:?} → {name:?}", update.old_name),
            None => "externalId set".to_string(),
        };
        groups.push(format!("{} {}  {what}", paint("~ update ", yellow), update.old_name));
    }
    for removal in &plan.group_removals {
        groups.push(format!(
            "{} {}  {}",
            paint("- delete ", red),
            removal.display_name,
            paint("left scope; deleting removes its AWS assignments", dim)
        ));
    }
    section("Groups", groups);

    let mut members = Vec::new();
    for change in &plan.member_changes {
        let created = matches!(change.group, Target::New(_));
        let mut line = format!("{}{}", change.group_name, if created { " (new)" } else { "" });
        if !change.add.is_empty() {
            let _ = write!(
                line,
                "\n      {} {}",
                paint(&format!("+ {} add:", change.add.len()), green),
                names(&change.add)
            );
        }
        if !change.remove.is_empty() {
            let _ = write!(
                line,
                "\n      {} {}",
                paint(&format!("- {} remove:", change.remove.len()), red),
                names(&change.remove)
            );
        }
        members.push(line);
    }
    section("Group members", members);

    let mut held = Vec::new();
    for rejection in &plan.rejected {
        held.push(format!(
            "{} {}: {}",
            paint("! rejected", red),
            rejection.name,
            rejection.reasons.join("; ")
        ));
    }
    for conflict in &plan.conflicts {
        let kind = match conflict.kind {
            ObjectKind::User => "user",
            ObjectKind::Group => "group",
        };
        held.push(format!("{} {kind} {}: {}", paint("! conflict", red), conflict.name, conflict.reason));
    }
    section("Not applied (fix in Entra ID or in the settings)", held);

    let adopted = plan.adoptions.len();
    if adopted > 0 {
        let _ = writeln!(
            out,
            "{}",
            paint(
                &format!("{adopted} existing AWS objects carry their Entra object id and become managed."),
                dim
            )
        );
    }
    if !plan.unmanaged.is_empty() {
        let mut listed: Vec<&str> =
            plan.unmanaged.iter().take(MEMBERS_SHOWN).map(|u| u.name.as_str()).collect();
        listed.sort_unstable();
        let more = plan.unmanaged.len().saturating_sub(MEMBERS_SHOWN);
        let _ = writeln!(
            out,
            "{}",
            paint(
                &format!(
                    "Left alone: {} AWS objects scimsync does not manage ({}{}).",
                    plan.unmanaged.len(),
                    listed.join(", "),
                    if more > 0 { format!(" … and {more} more") } else { String::new() }
                ),
                dim
            )
        );
    }
    let skipped: usize = plan.skipped_members.values().sum();
    if skipped > 0 {
        let kinds: Vec<String> =
            plan.skipped_members.iter().map(|(k, n)| format!("{n} {}", short_type(k))).collect();
        let _ = writeln!(
            out,
            "{}",
            paint(&format!("Skipped group members that are not users: {}.", kinds.join(", ")), dim)
        );
    }
    if !plan.unmatched_groups.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(&format!("! [scope] chooses no group with: {}.", plan.unmatched_groups.join(", ")), yellow)
        );
    }
    if plan.filtered_out > 0 {
        let _ = writeln!(
            out,
            "{}",
            paint(&format!("Left out by the user scoping filters: {} users.", plan.filtered_out), dim)
        );
    }
    let pending = pending_deletions(plan);
    if !pending.is_empty() {
        let more = pending.len().saturating_sub(MEMBERS_SHOWN);
        let listed: Vec<String> =
            pending.iter().take(MEMBERS_SHOWN).map(|(name, due)| format!("{name} {due}")).collect();
        let _ = writeln!(
            out,
            "{}",
            paint(
                &format!(
                    "Deletions pending (delete_after): {}{}.",
                    listed.join(", "),
                    if more > 0 { format!(" … and {more} more") } else { String::new() }
                ),
                dim
            )
        );
    }
    out.push_str(&self::held(guard_held));
    let _ = writeln!(out, "{}", summary_line(plan, guard_held.is_some(), aws_read));
    out
}

/// Objects out of scope whose deletion is due later (`removal = "delete"` with `delete_after`), the
/// soonest first: their name and `on YYYY-MM-DD HH:MM UTC`.
fn pending_deletions(plan: &Plan) -> Vec<(String, String)> {
    let deleted_now: std::collections::HashSet<&str> = plan
        .user_removals
        .iter()
        .filter(|r| r.mode == RemovalMode::Delete)
        .map(|r| r.id.as_str())
        .chain(plan.group_removals.iter().map(|r| r.id.as_str()))
        .collect();
    let mut pending: Vec<(u64, &str)> = plan
        .scope_exits
        .iter()
        .filter(|e| !deleted_now.contains(e.id.as_str()))
        .filter_map(|e| Some((e.delete_due?, e.name.as_str())))
        .collect();
    pending.sort_unstable();
    pending
        .into_iter()
        .map(|(due, name)| {
            let when = i64::try_from(due)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .map_or_else(|| format!("at {due}"), |t| t.format("on %Y-%m-%d %H:%M UTC").to_string());
            (name.to_string(), when)
        })
        .collect()
}

fn short_type(odata: &str) -> &str {
    odata.rsplit('.').next().unwrap_or(odata)
}

/// `Plan: 3 to create, 1 to update, …` or the no-change line.
pub fn summary_line(plan: &Plan, held: bool, aws_read: bool) -> String {
    let s = plan.summary();
    if s.total() == 0 && held {
        return paint("No other changes; the removals above are held.", bold);
    }
    if s.total() == 0 && !aws_read {
        return paint("No changes from Entra ID since the last run (AWS itself was not read).", green);
    }
    if s.total() == 0 {
        return paint("No changes. AWS is in step with Entra ID.", green);
    }
    paint(
        &format!(
            "Plan: {} to create, {} to update, {} to disable, {} to delete, {} member additions, {} member removals.",
            s.create, s.update, s.disable, s.delete, s.member_add, s.member_remove
        ),
        bold,
    )
}

/// What `sync` did, one line per change.
pub fn report(report: &ApplyReport) -> String {
    let mut out = String::new();
    // Writes of one phase finish in any order; a person (and a diff of two runs) wants a stable one.
    let mut outcomes: Vec<&scimsync_sync::Outcome> = report.outcomes.iter().collect();
    outcomes.sort_by(|a, b| (phase(a.action), &a.name).cmp(&(phase(b.action), &b.name)));
    for outcome in outcomes {
        let detail =
            if outcome.detail.is_empty() { String::new() } else { format!("  ({})", outcome.detail) };
        match &outcome.error {
            None => {
                let _ = writeln!(
                    out,
                    "{} {} {}{detail}",
                    paint("✓", green),
                    outcome.action.label(),
                    outcome.name
                );
            }
            Some(error) => {
                let _ = writeln!(
                    out,
                    "{} {} {}{detail}: {error}",
                    paint("✗", red),
                    outcome.action.label(),
                    outcome.name
                );
            }
        }
    }
    out
}

/// The removal guard's notice, or nothing.
pub fn held(held: Option<&scimsync_core::Held>) -> String {
    let Some(held) = held else { return String::new() };
    format!(
        "{} {}.\n  Held back: {} user and {} group removals, {} member removals; everything else is applied.\n  \
         If these removals are intended, run once with --allow-removals, or raise max_removals / \
         max_removal_percent in the [guard] section of the config file.\n\n",
        paint("! Removals held by the guard:", red),
        held.reason,
        held.user_removals,
        held.group_removals,
        held.member_removals
    )
}

fn phase(action: scimsync_sync::Action) -> u8 {
    use scimsync_sync::Action;
    match action {
        Action::CreateUser => 0,
        Action::UpdateUser => 1,
        Action::CreateGroup => 2,
        Action::UpdateGroup => 3,
        Action::AddMembers => 4,
        Action::RemoveMembers => 5,
        Action::DisableUser => 6,
        Action::DeleteUser => 7,
        Action::DeleteGroup => 8,
    }
}

#[cfg(test)]
mod tests {
    use scimsync_core::plan::{ScopeExit, UserRemoval};

    use super::*;

    #[test]
    fn the_plan_shows_unmatched_group_choices_filtered_users_and_pending_deletions() {
        let exit = |id: &str, name: &str, due: Option<u64>| ScopeExit {
            kind: ObjectKind::User,
            id: id.into(),
            name: name.into(),
            since: Some(0),
            delete_due: due,
        };
        let plan = Plan {
            unmatched_groups: vec!["Nobody-*".into(), "5c0b0000-0000-4000-8000-0000000000a2".into()],
            filtered_out: 3,
            scope_exits: vec![
                exit("a1", "later@x", Some(1_767_225_600)),
                exit("a2", "now@x", Some(0)),
                exit("a3", "kept@x", None),
            ],
            user_removals: vec![UserRemoval {
                id: "a2".into(),
                user_name: "now@x".into(),
                mode: RemovalMode::Delete,
            }],
            ..Plan::default()
        };
        let text = self::plan(&plan, None, true);
        for want in [
            "[scope] chooses no group with: Nobody-*, 5c0b0000-0000-4000-8000-0000000000a2.",
            "Left out by the user scoping filters: 3 users.",
            "Deletions pending (delete_after): later@x on 2026-01-01 00:00 UTC.",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        assert!(!text.contains("now@x on"), "{text}");
        assert!(!text.contains("kept@x"), "{text}");
        let quiet = self::plan(&Plan::default(), None, true);
        assert!(!quiet.contains("scope") && !quiet.contains("pending"), "{quiet}");
    }
}
