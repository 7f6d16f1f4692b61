//! The audit trail of management: every change appended as an event (who, what, which
//! key, from where, and for updates the fields that changed, old → new), logged too.
//! A failure to store the event is logged, never returned: the change is done.

use super::{Actor, Keys, ManageError};
use crate::store::{AuditEvent, AuditQuery, TokenId, TokenRecord};

impl Keys {
    /// Appends and logs an audit event. The change itself is already done: a failure
    /// here is logged, not returned.
    /// (A record that could not be read: only its id and owner are known.)
    pub(super) async fn audit(&self, actor: &Actor, action: &str, owner: &str, id: &TokenId) {
        if let Some(events) = &self.events
            && action == "delete"
        {
            let data = serde_json::json!({
                "key": {"id": id, "owner": owner},
                "actor": actor_json(actor),
                "reason": "the stored record was damaged and was removed",
            });
            let owner = (!owner.is_empty()).then_some(owner);
            events.emit("key.deleted", owner, data).await;
        }
        self.audit_event(actor, action, owner, Some(id), None, Vec::new())
            .await;
    }

    /// An audit event about one key whose record is at hand, with what changed, and
    /// the matching webhook event.
    pub(super) async fn audit_record(
        &self,
        actor: &Actor,
        action: &str,
        r: &TokenRecord,
        changes: Vec<crate::store::AuditChange>,
    ) {
        if let (Some(events), Some(kind)) = (&self.events, event_kind(action)) {
            events
                .emit(kind, Some(&r.owner), key_event(r, actor, &changes))
                .await;
        }
        self.audit_event(
            actor,
            action,
            &r.owner,
            Some(&r.id),
            Some(r.name.clone()),
            changes,
        )
        .await;
    }

    /// An audit event about an owner rather than one key.
    pub(super) async fn audit_owner(&self, actor: &Actor, action: &str, owner: &str) {
        self.audit_event(actor, action, owner, None, None, Vec::new())
            .await;
    }

    pub(super) async fn audit_event(
        &self,
        actor: &Actor,
        action: &str,
        owner: &str,
        id: Option<&TokenId>,
        name: Option<String>,
        changes: Vec<crate::store::AuditChange>,
    ) {
        let event = AuditEvent {
            seq: 0,
            at: self.clock.now(),
            actor: actor.subject.clone(),
            auth: actor.auth.to_owned(),
            action: action.to_owned(),
            owner: owner.to_owned(),
            token_id: id.cloned(),
            client: actor.client.clone(),
            name,
            changes,
        };
        let shown = id.map_or_else(String::new, ToString::to_string);
        tracing::info!(target: "keygate::audit", actor = %event.actor, auth = %event.auth, action, owner = %event.owner, token_id = %shown, client = event.client.as_deref().unwrap_or(""), "key changed");
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::error!(error = %e, action, token_id = %shown, "could not store the audit event");
        }
    }

    pub async fn audit_log(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, ManageError> {
        Ok(self.store.list_audit(q).await?)
    }
}

/// The webhook event type of an audited change to a key, if it has one.
fn event_kind(action: &str) -> Option<&'static str> {
    Some(match action {
        "create" => "key.created",
        "update" | "limits" => "key.updated",
        "disable" => "key.disabled",
        "enable" => "key.enabled",
        "rotate" => "key.rotated",
        "delete" => "key.revoked",
        _ => return None,
    })
}

fn actor_json(actor: &Actor) -> serde_json::Value {
    serde_json::json!({"subject": actor.subject, "auth": actor.auth, "client": actor.client})
}

/// The `data` of a key event: the key as the API shows its settings (never a secret or
/// a hash), who acted, and what changed.
pub(super) fn key_event(
    r: &TokenRecord,
    actor: &Actor,
    changes: &[crate::store::AuditChange],
) -> serde_json::Value {
    let mut key = serde_json::json!({
        "id": r.id,
        "owner": r.owner,
        "name": r.name,
        "hint": r.hint,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "disabled": r.disabled,
        "metadata": r.metadata,
    });
    if let Some(old) = &r.replaces {
        key["replaces"] = serde_json::json!(old);
    }
    if let Some(g) = r.grace_until {
        key["grace_until"] = serde_json::json!(g);
    }
    serde_json::json!({"key": key, "actor": actor_json(actor), "changes": changes})
}

/// The fields an update changed, as text (rules in their CLI form, metadata and limits
/// as JSON). Nothing secret is in a record.
pub(super) fn changes(a: &TokenRecord, b: &TokenRecord) -> Vec<crate::store::AuditChange> {
    let mut out = Vec::new();
    let mut field = |name: &str, x: Option<String>, y: Option<String>| {
        if x != y {
            out.push(crate::store::AuditChange {
                field: name.into(),
                from: x,
                to: y,
            });
        }
    };
    field("name", Some(a.name.clone()), Some(b.name.clone()));
    field(
        "expires_at",
        a.expires_at.map(|t| t.to_string()),
        b.expires_at.map(|t| t.to_string()),
    );
    field(
        "disabled",
        Some(a.disabled.to_string()),
        Some(b.disabled.to_string()),
    );
    let rules = |r: &TokenRecord| {
        r.rules
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ")
    };
    field("rules", Some(rules(a)), Some(rules(b)));
    fn json<T: serde::Serialize>(v: &T) -> Option<String> {
        serde_json::to_string(v).ok()
    }
    field("metadata", json(&a.metadata), json(&b.metadata));
    field("limits", json(&a.limits), json(&b.limits));
    out.extend(super::roles::grant_changes(a, b));
    out
}
