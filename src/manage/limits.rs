//! Usage limits as people see and set them: a key's or owner's rate limits plus its
//! credit balance (which the store keeps apart from the record, since every use
//! changes it), who may raise them, and owner limits.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::{Actor, Keys, ManageError, invalid};
pub use crate::limits::owner::{
    OWNER_LIMITS_IN_USE, OWNER_LIMITS_META, owner_slot, parse_owner_limits,
};
use crate::limits::{CreditPolicy, Limits, MAX_CREDITS, RateLimit, Refill};
use crate::store::counters::Balance;
use crate::store::{StoreError, TokenRecord};

/// Limits with the live credit balance: what the API shows and takes on create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsView {
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    /// `null`: no quota.
    #[serde(default)]
    pub credits: Option<CreditsView>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditsView {
    /// Credits left (0 to 10^15). Leases held by running replicas count as spent.
    pub remaining: u64,
    /// `null`: no refill.
    #[serde(default)]
    pub refill: Option<Refill>,
}

/// A change of limits: absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsPatch {
    /// Replaces the list.
    #[serde(default)]
    pub rate_limits: Option<Vec<RateLimit>>,
    /// `null` removes the quota.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CreditsPatch>)]
    pub credits: Option<Option<CreditsPatch>>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditsPatch {
    /// Absent: the balance stays (required when there was no quota).
    #[serde(default)]
    pub remaining: Option<u64>,
    /// Absent: the refill stays; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Refill>)]
    pub refill: Option<Option<Refill>>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An owner's limits and where they come from.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OwnerLimitsView {
    pub owner: String,
    /// `owner` (set for this owner), `default` (`[limits.owner]`) or `none`.
    pub source: &'static str,
    pub limits: LimitsView,
}

impl LimitsView {
    /// Splits into the policy kept on the record and the balance kept by the store.
    pub fn split(&self) -> Result<(Limits, Option<u64>), ManageError> {
        let limits = Limits {
            rate_limits: self.rate_limits.clone(),
            credits: self.credits.map(|c| CreditPolicy { refill: c.refill }),
        };
        limits.check().map_err(|m| invalid("limits", m))?;
        let balance = self.credits.map(|c| c.remaining);
        if balance.is_some_and(|b| b > MAX_CREDITS) {
            return Err(invalid(
                "limits",
                format!("credits.remaining must be at most {MAX_CREDITS}"),
            ));
        }
        Ok((limits, balance))
    }

    pub fn of(limits: &Limits, balance: Option<u64>) -> Self {
        LimitsView {
            rate_limits: limits.rate_limits.clone(),
            credits: limits.credits.map(|c| CreditsView {
                remaining: balance.unwrap_or(0),
                refill: c.refill,
            }),
        }
    }
}

impl LimitsPatch {
    /// The limits and balance after this patch (`None` balance: unchanged).
    pub fn apply(&self, old: &Limits) -> Result<(Limits, Option<u64>), ManageError> {
        let mut next = old.clone();
        if let Some(r) = &self.rate_limits {
            next.rate_limits = r.clone();
        }
        let mut balance = None;
        match self.credits {
            None => {}
            Some(None) => next.credits = None,
            Some(Some(c)) => {
                let refill = match c.refill {
                    Some(r) => r,
                    None => old.credits.and_then(|p| p.refill),
                };
                balance = match (c.remaining, old.credits) {
                    (Some(n), _) => Some(n),
                    (None, Some(_)) => None,
                    (None, None) => {
                        return Err(invalid(
                            "limits",
                            "credits.remaining is required to give a key without a quota one",
                        ));
                    }
                };
                next.credits = Some(CreditPolicy { refill });
            }
        }
        next.check().map_err(|m| invalid("limits", m))?;
        if balance.is_some_and(|b| b > MAX_CREDITS) {
            return Err(invalid(
                "limits",
                format!("credits.remaining must be at most {MAX_CREDITS}"),
            ));
        }
        Ok((next, balance))
    }
}

/// The balance a store entry stands for now: a refill due since it was written counts.
pub fn effective(limits: &Limits, stored: Option<Balance>, now_ms: i64) -> Option<u64> {
    let policy = limits.credits?;
    let b = stored.unwrap_or(Balance {
        left: 0,
        period_ms: 0,
    });
    Some(match policy.refill {
        Some(r) if r.interval.period_start(now_ms) > b.period_ms => r.amount,
        _ => b.left,
    })
}

/// What a new balance is stored as: counted in the current refill period.
pub fn balance_now(limits: &Limits, left: u64, now_ms: i64) -> Balance {
    Balance {
        left,
        period_ms: limits
            .credits
            .and_then(|c| c.refill)
            .map_or(0, |r| r.interval.period_start(now_ms)),
    }
}

/// Refused: a user tried to loosen limits they may only tighten.
pub fn locked() -> ManageError {
    ManageError::LimitsLocked
}

impl Keys {
    /// Balances of these records' quotas, in their order (`None` without a quota).
    pub async fn balances(&self, records: &[TokenRecord]) -> Result<Vec<Option<u64>>, ManageError> {
        let slots: Vec<String> = records
            .iter()
            .filter(|r| r.limits.credits.is_some())
            .map(TokenRecord::usage_slot)
            .collect();
        let mut stored = if slots.is_empty() {
            Vec::new()
        } else {
            self.store.get_credits(&slots).await?
        }
        .into_iter();
        let now = self.clock.now_ms();
        Ok(records
            .iter()
            .map(|r| {
                if r.limits.credits.is_some() {
                    effective(&r.limits, stored.next().flatten(), now)
                } else {
                    None
                }
            })
            .collect())
    }

    /// Adds `n` credits to a key's balance, as an administrator tops it up (for others
    /// it is a raise: refused unless `limits.users_may_raise`). This process's unspent
    /// leases go back first, so they count; what other replicas leased and did not spend
    /// is dropped, as with any balance set. Audited as a change of `credits.remaining`.
    pub async fn add_credits(
        &self,
        id: &crate::store::TokenId,
        n: u64,
        actor: &Actor,
    ) -> Result<TokenRecord, ManageError> {
        let r = self.get(id).await?;
        if r.limits.credits.is_none() {
            return Err(invalid(
                "add",
                "the key has no credits to add to; give it a balance first",
            ));
        }
        if let Some(g) = &self.gate {
            g.reset_slot(&r.usage_slot()).await;
        }
        let left = self
            .balances(std::slice::from_ref(&r))
            .await?
            .pop()
            .flatten()
            .unwrap_or(0);
        let to = left
            .checked_add(n)
            .filter(|t| *t <= MAX_CREDITS)
            .ok_or_else(|| invalid("add", format!("the balance would be over {MAX_CREDITS}")))?;
        let patch = super::Patch {
            limits: Some(LimitsPatch {
                rate_limits: None,
                credits: Some(Some(CreditsPatch {
                    remaining: Some(to),
                    refill: None,
                })),
            }),
            ..super::Patch::default()
        };
        self.update(id, patch, actor).await
    }

    /// The limits a new key gets when its creator gives none.
    pub fn default_limits(&self) -> LimitsView {
        LimitsView::of(&self.key_defaults.0, self.key_defaults.1)
    }

    /// Checks and resolves the limits of a new key: the creator's, or the defaults.
    pub(super) fn new_limits(
        &self,
        given: Option<&LimitsView>,
        actor: &Actor,
    ) -> Result<(Limits, Option<u64>), ManageError> {
        let Some(v) = given else {
            return Ok(self.key_defaults.clone());
        };
        let (limits, balance) = v.split()?;
        let (base, base_balance) = &self.key_defaults;
        if !actor.may_raise_limits && !limits.within(balance, base, *base_balance) {
            return Err(locked());
        }
        Ok((limits, balance))
    }

    /// An owner's limits: their own, else the configured default, else none.
    pub async fn owner_limits(&self, owner: &str) -> Result<OwnerLimitsView, ManageError> {
        super::validate_owner(owner)?;
        let (source, limits) = match self.stored_owner_limits(owner).await? {
            Some(l) => ("owner", l),
            None if !self.owner_defaults.0.is_empty() => ("default", self.owner_defaults.0.clone()),
            None => ("none", Limits::default()),
        };
        let slot = owner_slot(owner);
        let stored = if limits.credits.is_some() {
            self.store
                .get_credits(std::slice::from_ref(&slot))
                .await?
                .pop()
                .flatten()
        } else {
            None
        };
        // A default balance not yet touched starts at the configured credits.
        let stored = stored.or_else(|| {
            (source == "default")
                .then_some(self.owner_defaults.1)
                .flatten()
                .map(|left| balance_now(&limits, left, self.clock.now_ms()))
        });
        let balance = effective(&limits, stored, self.clock.now_ms());
        Ok(OwnerLimitsView {
            owner: owner.to_owned(),
            source,
            limits: LimitsView::of(&limits, balance),
        })
    }

    async fn stored_owner_limits(&self, owner: &str) -> Result<Option<Limits>, ManageError> {
        let Some(raw) = self
            .store
            .get_meta(&format!("{OWNER_LIMITS_META}{owner}"))
            .await?
        else {
            return Ok(None);
        };
        parse_owner_limits(&raw)
            .map_err(|e| ManageError::Store(StoreError::Backend(format!("owner {owner}: {e}"))))
    }

    /// Sets an owner's own limits (administrators).
    pub async fn set_owner_limits(
        &self,
        owner: &str,
        v: &LimitsView,
        actor: &Actor,
    ) -> Result<OwnerLimitsView, ManageError> {
        super::validate_owner(owner)?;
        let (limits, balance) = v.split()?;
        let json = serde_json::to_vec(&limits)
            .map_err(|e| ManageError::Store(StoreError::Backend(e.to_string())))?;
        let slot = owner_slot(owner);
        if let Some(g) = &self.gate {
            g.reset_slot(&slot).await;
        }
        let epoch = match balance {
            Some(left) => {
                let b = balance_now(&limits, left, self.clock.now_ms());
                self.store.set_credits(&slot, Some(b)).await?
            }
            None => self.store.set_credits(&slot, None).await?,
        };
        if let Some(g) = &self.gate {
            g.drop_leases(&slot, epoch);
        }
        self.store.set_meta(OWNER_LIMITS_IN_USE, b"1").await?;
        self.store
            .set_meta(&format!("{OWNER_LIMITS_META}{owner}"), &json)
            .await?;
        self.owner_limits_changed().await;
        self.audit_owner(actor, "owner_limits", owner).await;
        self.owner_limits(owner).await
    }

    /// Removes an owner's own limits: the configured default applies again.
    pub async fn clear_owner_limits(&self, owner: &str, actor: &Actor) -> Result<(), ManageError> {
        super::validate_owner(owner)?;
        // Meta entries cannot be deleted: an empty value means "none of their own".
        self.store
            .set_meta(&format!("{OWNER_LIMITS_META}{owner}"), b"")
            .await?;
        let slot = owner_slot(owner);
        if let Some(g) = &self.gate {
            g.reset_slot(&slot).await;
        }
        let epoch = self.store.set_credits(&slot, None).await?;
        if let Some(g) = &self.gate {
            g.drop_leases(&slot, epoch);
        }
        self.owner_limits_changed().await;
        self.audit_owner(actor, "owner_limits_clear", owner).await;
        Ok(())
    }

    async fn owner_limits_changed(&self) {
        if let Some(g) = &self.gate {
            g.owner_limits_changed();
        }
        self.store.announce_all().await;
    }
}
