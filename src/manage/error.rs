//! What the key service answers when it refuses: [`ManageError`], and how a store error
//! becomes one (a damaged record names its id and owner, so the API can keep the owner
//! check and say what is wrong).

use crate::store::{StoreError, TokenId};

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no key with that id")]
    NotFound,
    /// The owner already has `max_keys_per_owner` keys.
    #[error(
        "this owner already has {0} keys, the most allowed (max_keys_per_owner); delete one first"
    )]
    TooManyKeys(usize),
    /// The stored record does not decode; it can only be deleted. With `newer_format`,
    /// it is in a record format newer than this keygate reads (written by a newer one).
    #[error("{}", damaged_text(.id, *.newer_format))]
    Damaged {
        id: TokenId,
        /// Its owner, when the damaged bytes still name one.
        owner: Option<String>,
        newer_format: Option<u8>,
    },
    /// A user tried to loosen usage limits they may only tighten.
    #[error(
        "you may only keep or tighten usage limits (lower limits, fewer credits); ask an administrator to raise them"
    )]
    LimitsLocked,
    #[error("no role with that name")]
    RoleNotFound,
    #[error("a role named `{0}` exists already")]
    RoleExists(String),
    /// Deleting a role still held, without `detach`.
    #[error("the role is held by {keys} key(s) and {owners} owner(s)")]
    RoleInUse { keys: usize, owners: usize },
    #[error(transparent)]
    Store(StoreError),
}

fn damaged_text(id: &TokenId, newer_format: Option<u8>) -> String {
    match newer_format {
        Some(v) => crate::store::codec::newer_format_message(id.as_str(), v),
        None => format!("the stored record of key {id} is damaged; it can only be deleted"),
    }
}

impl From<crate::model::text::FieldError> for ManageError {
    fn from(e: crate::model::text::FieldError) -> Self {
        ManageError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> ManageError {
    ManageError::Invalid {
        field,
        message: message.into(),
    }
}

pub(super) fn not_found(e: StoreError) -> ManageError {
    match e {
        StoreError::NotFound => ManageError::NotFound,
        e => e.into(),
    }
}

impl From<StoreError> for ManageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Damaged {
                id,
                owner,
                detail,
                newer_format,
            } => {
                tracing::warn!(token_id = %id, owner = owner.as_deref().unwrap_or(""), error = %detail, "a stored key record cannot be read: unless it is in a newer record format, delete it or run `keygate doctor --fix`");
                ManageError::Damaged {
                    id,
                    owner,
                    newer_format,
                }
            }
            e => ManageError::Store(e),
        }
    }
}
