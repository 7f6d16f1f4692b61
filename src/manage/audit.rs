//! The audit trail of management: every change appended as an event (who, what, which
//! key, from where, and for updates the fields that changed, old → new), logged too.
//! A failure to store the event is logged, never returned: the change is done.

use super::{Actor, Keys, ManageError};
use crate::store::{AuditEvent, AuditQuery, TokenId, TokenRecord};

impl Keys {
    /// Appends and logs an audit event. The change itself is already done: a failure
    /// here is logged, not returned.
    pub(super) async fn audit(&self, actor: &Actor, action: &str, owner: &str, id: &TokenId) {
        self.audit_event(actor, action, owner, Some(id), None, Vec::new())
            .await;
    }

    /// An audit event about one key whose record is at hand, with what changed.
    pub(super) async fn audit_record(
        &self,
        actor: &Actor,
        action: &str,
        r: &TokenRecord,
        changes: Vec<crate::store::AuditChange>,
    ) {
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
