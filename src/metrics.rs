//! Prometheus metrics, kept in atomics and rendered in the text format on scrape.
//!
//! Every label value comes from a fixed set in this file (or from the configuration, for
//! key-file paths) — never from a request — so no client can create new series.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The proxy-facing endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    ForwardAuth = 0,
    Auth = 1,
    ExtAuthz = 2,
    /// `POST /verify`, for applications.
    Verify = 3,
    /// The inline proxy's decisions.
    Proxy = 4,
    /// Envoy's gRPC external authorization (`Authorization/Check`).
    ExtAuthzGrpc = 5,
}

impl Endpoint {
    pub const ALL: [Endpoint; 6] = [
        Endpoint::ForwardAuth,
        Endpoint::Auth,
        Endpoint::ExtAuthz,
        Endpoint::Verify,
        Endpoint::Proxy,
        Endpoint::ExtAuthzGrpc,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::ForwardAuth => "forward_auth",
            Endpoint::Auth => "auth",
            Endpoint::ExtAuthz => "ext_authz",
            Endpoint::Verify => "verify",
            Endpoint::Proxy => "proxy",
            Endpoint::ExtAuthzGrpc => "ext_authz_grpc",
        }
    }
}

/// What a decision came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed = 0,
    Unauthenticated = 1,
    Forbidden = 2,
    Throttled = 3,
    Unavailable = 4,
    /// Over a rate limit (the key's or its owner's).
    RateLimited = 5,
    /// No credits left.
    UsageExceeded = 6,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Allowed,
        Outcome::Unauthenticated,
        Outcome::Forbidden,
        Outcome::Throttled,
        Outcome::Unavailable,
        Outcome::RateLimited,
        Outcome::UsageExceeded,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Forbidden => "forbidden",
            Outcome::Throttled => "throttled",
            Outcome::Unavailable => "unavailable",
            Outcome::RateLimited => "rate_limited",
            Outcome::UsageExceeded => "usage_exceeded",
        }
    }
}

/// Upper bounds of the latency buckets, seconds.
const BOUNDS: [f64; 14] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.1, 0.5, 1.0,
];

/// [`BOUNDS`] in nanoseconds, for the comparisons of [`Histogram::observe`].
const BOUNDS_NS: [u64; 14] = {
    let mut ns = [0u64; 14];
    let mut i = 0;
    while i < ns.len() {
        ns[i] = (BOUNDS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    ns
};

#[derive(Default)]
pub struct Histogram {
    /// Non-cumulative counts; the last slot is +Inf.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BOUNDS_NS
            .iter()
            .position(|b| ns <= *b)
            .unwrap_or(BOUNDS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, b) in BOUNDS.iter().enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        cumulative += self.buckets[BOUNDS.len()].load(Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

#[derive(Default)]
pub struct Metrics {
    decisions: [[AtomicU64; 7]; 6],
    /// Usage-limit refusals by [reason (rate, credits)][scope (key, owner)].
    limit_refusals: [[AtomicU64; 2]; 2],
    decision_latency: [Histogram; 6],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    store_latency: Histogram,
    store_errors: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// (route template, status) → count; both from fixed sets.
    api: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// The inline proxy's routes, as configured (set once when it starts).
    routes: std::sync::OnceLock<Vec<RouteMetrics>>,
}

/// What one proxy route's upstream answered.
struct RouteMetrics {
    name: String,
    /// By status class: 1xx … 5xx, then exchanges that failed (keygate answered 502 or
    /// 504).
    classes: [AtomicU64; 6],
    latency: Histogram,
}

const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "failed"];

impl Metrics {
    pub fn decision(&self, e: Endpoint, o: Outcome, took: Duration) {
        self.decisions[e as usize][o as usize].fetch_add(1, Relaxed);
        self.decision_latency[e as usize].observe(took);
    }

    /// A request refused by a usage limit.
    pub fn limit_refusal(&self, e: crate::limits::Exceeded) {
        let reason = usize::from(matches!(e, crate::limits::Exceeded::Credits { .. }));
        let scope = usize::from(e.scope() == crate::limits::Scope::Owner);
        self.limit_refusals[reason][scope].fetch_add(1, Relaxed);
    }

    pub fn cache(&self, hit: bool) {
        if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        }
        .fetch_add(1, Relaxed);
    }

    pub fn store_call(&self, took: Duration, ok: bool) {
        self.store_latency.observe(took);
        if !ok {
            self.store_errors.fetch_add(1, Relaxed);
        }
    }

    pub fn reload(&self, ok: bool) {
        if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        }
        .fetch_add(1, Relaxed);
    }

    /// A management request; `route` must be a route template, never a request path.
    pub fn api_request(&self, route: &'static str, status: u16) {
        *self
            .api
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((route, status))
            .or_default() += 1;
    }

    /// Names the inline proxy's routes (labels come from the configuration only).
    pub fn proxy_routes(&self, names: &[&str]) {
        let _ = self.routes.set(
            names
                .iter()
                .map(|n| RouteMetrics {
                    name: (*n).to_owned(),
                    classes: Default::default(),
                    latency: Histogram::default(),
                })
                .collect(),
        );
    }

    /// An upstream exchange of route `route` (its index in [`Metrics::proxy_routes`]):
    /// the response head's status, `None` when none came; `took` until the head.
    pub fn upstream(&self, route: usize, status: Option<u16>, took: Duration) {
        let Some(r) = self.routes.get().and_then(|r| r.get(route)) else {
            return;
        };
        let class = status.map_or(5, |s| usize::from((s / 100).clamp(1, 5)) - 1);
        r.classes[class].fetch_add(1, Relaxed);
        r.latency.observe(took);
    }

    fn render_routes(&self, o: &mut String) {
        let Some(routes) = self.routes.get() else {
            return;
        };
        let _ = writeln!(
            o,
            "# HELP keygate_proxy_responses_total Upstream answers of the inline proxy, by route and status class (failed: no answer; keygate said 502 or 504).\n# TYPE keygate_proxy_responses_total counter"
        );
        for r in routes {
            for (i, class) in CLASSES.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "keygate_proxy_responses_total{{route=\"{}\",class=\"{class}\"}} {}",
                    r.name,
                    r.classes[i].load(Relaxed)
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP keygate_proxy_upstream_duration_seconds Time from sending a request upstream to its response head, by route.\n# TYPE keygate_proxy_upstream_duration_seconds histogram"
        );
        for r in routes {
            r.latency.render(
                o,
                "keygate_proxy_upstream_duration_seconds",
                &format!("route=\"{}\"", r.name),
            );
        }
    }

    pub fn decisions(&self, e: Endpoint, o: Outcome) -> u64 {
        self.decisions[e as usize][o as usize].load(Relaxed)
    }

    /// The text exposition. `key_sources` are (source label, keys) for the gauges.
    /// `cache`: the decision cache's entries and estimated bytes.
    pub fn render(
        &self,
        key_sources: &[(String, usize)],
        store_keys: Option<u64>,
        cache: (usize, u64),
    ) -> String {
        let mut o = String::with_capacity(8192);
        let _ = writeln!(
            o,
            "# HELP keygate_build_info keygate's version.\n# TYPE keygate_build_info gauge"
        );
        let _ = writeln!(
            o,
            "keygate_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );

        let _ = writeln!(
            o,
            "# HELP keygate_decisions_total Decisions by endpoint and outcome.\n# TYPE keygate_decisions_total counter"
        );
        for e in Endpoint::ALL {
            for out in Outcome::ALL {
                let _ = writeln!(
                    o,
                    "keygate_decisions_total{{endpoint=\"{}\",outcome=\"{}\"}} {}",
                    e.label(),
                    out.label(),
                    self.decisions(e, out)
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP keygate_limit_refusals_total Requests refused by a usage limit, by reason (rate_limited, usage_exceeded) and whose limit (key, owner).\n# TYPE keygate_limit_refusals_total counter"
        );
        for (r, reason) in ["rate_limited", "usage_exceeded"].iter().enumerate() {
            for (sc, scope) in ["key", "owner"].iter().enumerate() {
                let _ = writeln!(
                    o,
                    "keygate_limit_refusals_total{{reason=\"{reason}\",scope=\"{scope}\"}} {}",
                    self.limit_refusals[r][sc].load(Relaxed)
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP keygate_decision_duration_seconds Time to decide, by endpoint.\n# TYPE keygate_decision_duration_seconds histogram"
        );
        for e in Endpoint::ALL {
            self.decision_latency[e as usize].render(
                &mut o,
                "keygate_decision_duration_seconds",
                &format!("endpoint=\"{}\"", e.label()),
            );
        }
        let _ = writeln!(
            o,
            "# HELP keygate_cache_lookups_total Decision cache lookups by result.\n# TYPE keygate_cache_lookups_total counter"
        );
        let _ = writeln!(
            o,
            "keygate_cache_lookups_total{{result=\"hit\"}} {}",
            self.cache_hits.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "keygate_cache_lookups_total{{result=\"miss\"}} {}",
            self.cache_misses.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP keygate_store_request_duration_seconds Key lookups in the store on cache misses.\n# TYPE keygate_store_request_duration_seconds histogram"
        );
        self.store_latency
            .render(&mut o, "keygate_store_request_duration_seconds", "");
        self.render_routes(&mut o);
        let _ = writeln!(
            o,
            "# HELP keygate_store_errors_total Store lookups that failed or timed out.\n# TYPE keygate_store_errors_total counter"
        );
        let _ = writeln!(
            o,
            "keygate_store_errors_total {}",
            self.store_errors.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP keygate_key_file_reloads_total Key file and uploaded set (re)loads by result.\n# TYPE keygate_key_file_reloads_total counter"
        );
        let _ = writeln!(
            o,
            "keygate_key_file_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "keygate_key_file_reloads_total{{result=\"error\"}} {}",
            self.reloads_failed.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP keygate_keys Keys in force, by source (store, upload, or a key file's configured path).\n# TYPE keygate_keys gauge"
        );
        if let Some(n) = store_keys {
            let _ = writeln!(o, "keygate_keys{{source=\"store\"}} {n}");
        }
        for (source, n) in key_sources {
            let _ = writeln!(o, "keygate_keys{{source=\"{}\"}} {n}", escape(source));
        }
        let _ = writeln!(
            o,
            "# HELP keygate_cache_entries Answers in the decision cache (found and unknown keys).\n# TYPE keygate_cache_entries gauge\nkeygate_cache_entries {}",
            cache.0
        );
        let _ = writeln!(
            o,
            "# HELP keygate_cache_bytes The decision cache's estimated size, bytes (bounded by cache.max_mib).\n# TYPE keygate_cache_bytes gauge\nkeygate_cache_bytes {}",
            cache.1
        );
        let _ = writeln!(
            o,
            "# HELP keygate_api_requests_total Operator and management requests by route and status.\n# TYPE keygate_api_requests_total counter"
        );
        for ((route, status), n) in self.api.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                o,
                "keygate_api_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        o
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {

    #[test]
    fn latencies_fall_in_the_bucket_their_seconds_say() {
        for (i, b) in BOUNDS.iter().enumerate() {
            let h = Histogram::default();
            let at = Duration::from_secs_f64(*b);
            h.observe(at);
            h.observe(at + Duration::from_nanos(1));
            assert_eq!(h.buckets[i].load(Relaxed), 1, "{b} s");
            assert_eq!(h.buckets[i + 1].load(Relaxed), 1, "just over {b} s");
        }
    }
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.decision(Endpoint::Auth, Outcome::Allowed, Duration::from_micros(20));
        m.decision(Endpoint::Auth, Outcome::Allowed, Duration::from_millis(2));
        m.cache(true);
        let text = m.render(&[("a\"b".into(), 3)], Some(7), (5, 4096));
        assert!(
            text.contains("keygate_decisions_total{endpoint=\"auth\",outcome=\"allowed\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "keygate_decision_duration_seconds_bucket{endpoint=\"auth\",le=\"0.000025\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "keygate_decision_duration_seconds_bucket{endpoint=\"auth\",le=\"+Inf\"} 2"
            )
        );
        assert!(text.contains("keygate_decision_duration_seconds_count{endpoint=\"auth\"} 2"));
        assert!(text.contains("keygate_keys{source=\"a\\\"b\"} 3"));
        assert!(text.contains("keygate_keys{source=\"store\"} 7"));
        assert!(text.contains("keygate_cache_lookups_total{result=\"hit\"} 1"));
    }
}
