//! The vocabulary every layer speaks: the key record and its id, audit events, and the
//! rules for the text people put in names, owners and metadata.
//!
//! Nothing here imports a service, the store or the HTTP layer: only other vocabulary
//! (`clock`, `token`, `rules`, `limits`).

pub mod audit;
pub mod event;
pub mod recent;
pub mod record;
pub mod text;

pub use audit::{AUDIT_MAX, AUDIT_MAX_PER_OWNER, AuditChange, AuditEvent, AuditQuery};
pub use recent::RecentRequest;
pub use record::{HashAlg, NoRandomness, TokenId, TokenRecord};
