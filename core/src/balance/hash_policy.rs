//! Request hashing for consistent-hash load balancing, bit-for-bit with Envoy.
//! (Stub: the real implementation lands with the consistent-hash work.)

use crate::request::Request;
use std::time::Duration;

/// One of Istio's `consistentHash` hash keys, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashPolicy {
    /// `httpHeaderName` (stored lower-case).
    Header { name: String },
    /// `httpCookie {name, path, ttl}`; with a ttl a missing cookie is generated.
    Cookie { name: String, path: String, ttl: Option<Duration> },
    /// `useSourceIp`.
    SourceIp,
    /// `httpQueryParameterName`.
    QueryParameter { name: String },
}

/// What a hash policy made of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestHash {
    /// The request carried the key; this is its hash.
    Hash(u64),
    /// The cookie was missing and has been generated (lower-case hex, 16 bytes);
    /// `hash` is the hash of that value; the response must set the cookie.
    GeneratedCookie { value: [u8; 16], hash: u64 },
    /// The key is absent: Envoy picks a random host.
    Missing,
}

impl HashPolicy {
    /// Hashes `request` the way Envoy's route hash policy does.
    pub fn hash_request(&self, _request: &Request<'_>) -> RequestHash {
        RequestHash::Missing
    }
}
