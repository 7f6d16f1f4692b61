//! The access line of a proxied request: what the decision produced, written once the
//! upstream answered (or did not).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};

use super::routes::Route;
use crate::access_log;
use crate::app::App;
use crate::metrics::{self, Endpoint};
use crate::rules::Target;

/// What the access line needs that the decision produced.
pub(super) struct Logged {
    pub outcome: metrics::Outcome,
    pub key: Option<Arc<crate::decide::Known>>,
    pub client: std::net::IpAddr,
    pub forwarded_for: Option<HeaderValue>,
    pub metadata: Option<HeaderValue>,
    pub now_ms: i64,
    pub limit: Option<crate::limits::Exceeded>,
}

impl Logged {
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &self,
        app: &App,
        target: &Target<'_>,
        route: &Route,
        request_id: &HeaderValue,
        status: StatusCode,
        upstream: Option<(Option<u16>, Duration)>,
        took: Duration,
    ) {
        let Some(log) = &app.access_log else {
            return;
        };
        let text =
            |v: &Option<HeaderValue>| v.as_ref().and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (forwarded_for, metadata) = (text(&self.forwarded_for), text(&self.metadata));
        let now_ms = if self.now_ms == 0 {
            app.clock.now_ms()
        } else {
            self.now_ms
        };
        access_log::decision(
            log,
            &app.log_limits,
            &access_log::Line {
                endpoint: Endpoint::Proxy,
                outcome: self.outcome,
                status: status.as_u16(),
                key: self.key.as_deref(),
                target,
                forwarded_for: forwarded_for.as_deref().unwrap_or(""),
                metadata: metadata.as_deref(),
                client: self.client,
                took,
                now_ms,
                limit: self.limit,
                upstream: Some(access_log::Upstream {
                    route: &route.name,
                    request_id: request_id.to_str().unwrap_or(""),
                    status: upstream.and_then(|u| u.0),
                    took: upstream.map(|u| u.1),
                }),
            },
        );
    }
}
