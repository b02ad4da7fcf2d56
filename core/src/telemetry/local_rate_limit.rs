//! Enforcing the EnvoyFilter local rate limits Weir read
//! ([`crate::config::policy::envoy_filter`]): the token buckets of one
//! proxy, and the verdict for each request, as Envoy's
//! `LocalRateLimiterImpl::requestAllowed`
//! (source/extensions/filters/common/local_ratelimit/local_ratelimit_impl.cc)
//! gives it: every matched descriptor's bucket is taken from, then the
//! default bucket (when no descriptor matched, or
//! `always_consume_default_token_bucket`); any empty bucket refuses.
//! A route's own config replaces the listener's for that route.
//!
//! Lock-free and allocation-free per request; the time is the caller's.

use super::rate_limit::TokenBucket;
use crate::config::policy::envoy_filter::{BucketSpec, DescriptorAction, LocalRateLimit, Scope};
use crate::request::Headers;

/// What a request offers the descriptor actions.
#[derive(Clone, Copy)]
pub struct RateLimitRequest<'a> {
    /// `:path` (with the query).
    pub path: &'a str,
    /// `:authority`.
    pub authority: &'a str,
    /// `:method`.
    pub method: &'a str,
    pub headers: &'a dyn Headers,
}

impl std::fmt::Debug for RateLimitRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitRequest")
            .field("path", &self.path)
            .field("authority", &self.authority)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitVerdict<'l> {
    /// Forward it.
    Allowed,
    /// Answer locally with `status` and these headers (Istio's recipe:
    /// 429, `x-local-rate-limit: true`).
    Limited {
        status: u16,
        headers: &'l [(String, String)],
    },
}

#[derive(Debug)]
struct Limit {
    config: LocalRateLimit,
    default: Option<TokenBucket>,
    /// One per `config.descriptors`.
    descriptors: Box<[TokenBucket]>,
}

fn bucket(b: &BucketSpec, now_ms: u64) -> TokenBucket {
    TokenBucket::new(b.max_tokens, b.tokens_per_fill, b.fill_interval, now_ms)
}

/// The local rate limits of one proxy, buckets full at `now_ms`.
#[derive(Debug, Default)]
pub struct LocalRateLimiter {
    listener: Option<Limit>,
    /// Named routes first, then `ANY`, in config order.
    routes: Vec<Limit>,
}

impl LocalRateLimiter {
    /// Buckets for these configs (the first listener-level one wins, as a
    /// second filter instance would only see what the first let through).
    pub fn new(configs: &[&LocalRateLimit], now_ms: u64) -> LocalRateLimiter {
        let mut out = LocalRateLimiter::default();
        for c in configs {
            let limit = Limit {
                default: c.bucket.as_ref().map(|b| bucket(b, now_ms)),
                descriptors: c
                    .descriptors
                    .iter()
                    .map(|d| bucket(&d.bucket, now_ms))
                    .collect(),
                config: (*c).clone(),
            };
            match &c.scope {
                Scope::Listener if out.listener.is_none() => out.listener = Some(limit),
                Scope::Listener => {}
                Scope::Route(_) => out.routes.push(limit),
            }
        }
        out.routes
            .sort_by_key(|l| matches!(l.config.scope, Scope::Route(None)));
        out
    }

    /// Every config's `response_headers_to_add` list (the slices a
    /// [`RateLimitVerdict::Limited`] returns).
    pub fn response_header_lists(&self) -> impl Iterator<Item = &[(String, String)]> {
        self.listener
            .iter()
            .chain(self.routes.iter())
            .map(|l| l.config.response_headers.as_slice())
    }

    /// True when there is nothing to enforce.
    pub fn is_empty(&self) -> bool {
        self.listener.is_none() && self.routes.is_empty()
    }

    fn limit_for(&self, route: Option<&str>) -> Option<&Limit> {
        self.routes
            .iter()
            .find(|l| match &l.config.scope {
                Scope::Route(Some(name)) => Some(name.as_str()) == route,
                _ => true,
            })
            .or(self.listener.as_ref())
    }

    /// The verdict on a request that matched `route` (Weir's `http[].name`)
    /// at `now_ms`; `entropy` draws `filter_enabled`/`filter_enforced`.
    pub fn check(
        &self,
        route: Option<&str>,
        req: &RateLimitRequest<'_>,
        entropy: u64,
        now_ms: u64,
    ) -> RateLimitVerdict<'_> {
        let Some(limit) = self.limit_for(route) else {
            return RateLimitVerdict::Allowed;
        };
        let c = &limit.config;
        let mut state = entropy ^ 0x6c6f_6361_6c72_6c21; // "localrl!"
        let enabled = (crate::balance::splitmix64(&mut state) % 1_000_000) as u32;
        let enforced = (crate::balance::splitmix64(&mut state) % 1_000_000) as u32;
        if enabled >= c.enabled_per_million {
            return RateLimitVerdict::Allowed;
        }
        let mut allowed = true;
        let mut matched = false;
        for (d, b) in c.descriptors.iter().zip(limit.descriptors.iter()) {
            if c.rate_limits
                .iter()
                .any(|actions| produces(actions, &d.entries, req))
            {
                matched = true;
                if !b.try_take(now_ms) {
                    allowed = false;
                    break;
                }
            }
        }
        if allowed && (!matched || c.always_consume_default) {
            if let Some(b) = &limit.default {
                allowed = b.try_take(now_ms);
            }
        }
        if allowed || enforced >= c.enforced_per_million {
            RateLimitVerdict::Allowed
        } else {
            RateLimitVerdict::Limited {
                status: c.status,
                headers: &c.response_headers,
            }
        }
    }
}

/// Whether `actions` make exactly the descriptor `entries` for `req`.
fn produces(
    actions: &[DescriptorAction],
    entries: &[(String, String)],
    req: &RateLimitRequest<'_>,
) -> bool {
    let mut want = entries.iter();
    for a in actions {
        let (key, value) = match a {
            DescriptorAction::GenericKey { key, value } => (key.as_str(), Some(value.as_str())),
            DescriptorAction::RequestHeader {
                header,
                key,
                skip_if_absent,
            } => {
                let v = match header.as_str() {
                    ":path" => Some(req.path),
                    ":authority" | "host" => Some(req.authority),
                    ":method" => Some(req.method),
                    h => req.headers.get(h),
                };
                match v {
                    Some(v) => (key.as_str(), Some(v)),
                    // Envoy: a missing header makes no descriptor, unless skipped.
                    None if *skip_if_absent => continue,
                    None => return false,
                }
            }
        };
        match want.next() {
            Some((k, v)) if k == key && Some(v.as_str()) == value => {}
            _ => return false,
        }
    }
    want.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loaded;
    use crate::request::HeaderList;

    fn istio_task() -> Loaded {
        let text = include_str!("../../tests/data/local-ratelimit.yaml");
        let l = Loaded::from_source("local-ratelimit.yaml", text);
        assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
        l
    }

    fn req<'a>(path: &'a str, h: &'a HeaderList<'a>) -> RateLimitRequest<'a> {
        RateLimitRequest {
            path,
            authority: "productpage:9080",
            method: "GET",
            headers: h,
        }
    }

    /// Istio's task on a fake clock: the listener bucket (4 a minute) for
    /// the filter alone; with the route config, `/api/v1/products/1` has its
    /// own bucket of 1 and every path the route's default of 10.
    #[test]
    fn exact_tokens_on_a_fake_clock() {
        let l = istio_task();
        let all: Vec<&LocalRateLimit> = l.config.local_rate_limits.configs.iter().collect();
        let h = HeaderList(&[]);
        let limited = |v: RateLimitVerdict<'_>| match v {
            RateLimitVerdict::Allowed => false,
            RateLimitVerdict::Limited { status, headers } => {
                assert_eq!(status, 429);
                assert_eq!(headers, [("x-local-rate-limit".into(), "true".into())]);
                true
            }
        };

        // The HTTP_FILTER patch alone: 4 tokens, refilled by 4 each 60 s.
        let listener = LocalRateLimiter::new(&all[..1], 0);
        let rows = [
            (0, false),
            (10, false),
            (20, false),
            (30, false),
            (40, true),
            (59_999, true),
            (60_000, false),
        ];
        for (i, (t, want)) in rows.into_iter().enumerate() {
            assert_eq!(
                limited(listener.check(None, &req("/", &h), i as u64, t)),
                want,
                "t={t}"
            );
        }

        // Both patches: the route config replaces the listener's.
        let both = LocalRateLimiter::new(&all, 0);
        let p1 = "/api/v1/products/1";
        assert!(!limited(both.check(Some("r"), &req(p1, &h), 1, 0)));
        assert!(
            limited(both.check(Some("r"), &req(p1, &h), 2, 1)),
            "descriptor bucket of 1"
        );
        // Other paths: the route's default bucket; 2 of 10 tokens went above
        // (a descriptor match takes the default token too), the refused one
        // after the descriptor refused took none.
        let admitted = (0..20)
            .filter(|i| !limited(both.check(Some("r"), &req("/other", &h), *i, 2)))
            .count();
        assert_eq!(admitted, 9);
        // A minute later both refill.
        assert!(!limited(both.check(Some("r"), &req(p1, &h), 3, 60_000)));
    }

    /// 8 threads on one tick: never more admitted than the bucket holds.
    #[test]
    fn eight_threads_never_over_admit() {
        let l = istio_task();
        let all: Vec<&LocalRateLimit> = l.config.local_rate_limits.configs.iter().collect();
        let limiter = LocalRateLimiter::new(&all[..1], 0);
        let admitted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let (limiter, admitted) = (&limiter, &admitted);
                s.spawn(move || {
                    let h = HeaderList(&[]);
                    for i in 0..1000 {
                        if limiter.check(None, &req("/", &h), t * 1000 + i, 5)
                            == RateLimitVerdict::Allowed
                        {
                            admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.into_inner(), 4);
    }

    #[test]
    fn descriptors_match_exactly() {
        let h = HeaderList(&[("x-user", "jason")]);
        let r = req("/a", &h);
        let entries = |e: &[(&str, &str)]| -> Vec<(String, String)> {
            e.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let path = DescriptorAction::RequestHeader {
            header: ":path".into(),
            key: "path".into(),
            skip_if_absent: false,
        };
        let user = |skip| DescriptorAction::RequestHeader {
            header: "x-absent".into(),
            key: "user".into(),
            skip_if_absent: skip,
        };
        let generic = DescriptorAction::GenericKey {
            key: "generic_key".into(),
            value: "v".into(),
        };
        assert!(produces(
            std::slice::from_ref(&path),
            &entries(&[("path", "/a")]),
            &r
        ));
        assert!(!produces(
            std::slice::from_ref(&path),
            &entries(&[("path", "/b")]),
            &r
        ));
        assert!(!produces(
            &[path.clone(), generic.clone()],
            &entries(&[("path", "/a")]),
            &r
        ));
        assert!(produces(
            &[path.clone(), generic],
            &entries(&[("path", "/a"), ("generic_key", "v")]),
            &r
        ));
        assert!(!produces(
            &[path.clone(), user(false)],
            &entries(&[("path", "/a")]),
            &r
        ));
        assert!(produces(
            &[path, user(true)],
            &entries(&[("path", "/a")]),
            &r
        ));
    }

    #[test]
    fn the_engine_applies_telemetry_and_rate_limits_with_the_config() {
        let engine = crate::Engine::new();
        let text = format!(
            "{}\n---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {{name: logs, namespace: shop}}\nspec:\n  accessLogging: [{{filter: {{expression: 'response.code >= 400'}}}}]\n",
            include_str!("../../tests/data/local-ratelimit.yaml")
        );
        engine.apply_str(&text).expect("applies");
        let logs = engine.access_logging("shop").expect("shop's Telemetry");
        assert!(logs.enabled && logs.filter.is_some());
        assert!(engine.access_logging("default").is_none());
        let h = HeaderList(&[]);
        let limiter = engine.local_rate_limiter("shop", &[("app", "productpage")], 0);
        // The route patch (`action: ANY`) covers every route: its default
        // bucket of 10 replaces the listener's 4.
        let admitted = (0..12)
            .filter(|i| limiter.check(None, &req("/", &h), *i, 0) == RateLimitVerdict::Allowed)
            .count();
        assert_eq!(admitted, 10);
        assert!(engine
            .local_rate_limiter("shop", &[("app", "reviews")], 0)
            .is_empty());
        // A rejected config keeps the policies in force.
        assert!(engine.apply_str("kind: VirtualService\napiVersion: networking.istio.io/v1\nmetadata: {name: x}\nspec: {hosts: [1]}\n").is_err());
        assert!(engine.access_logging("shop").is_some());
    }
}
