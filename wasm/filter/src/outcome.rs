//! How a request ended at the upstream, from what Envoy reports: the
//! response `:status` and the `response.code_details` property.

use weir_core::compile::RequestOutcome;

/// The outcome outlier detection counts, or `None` when the endpoint was not
/// reached or not to blame (a proxy-local reply, the client went away).
///
/// `details` is Envoy's `response.code_details`: `via_upstream` for a
/// response the upstream sent; `upstream_reset_before_response_started{…}`
/// when the connection failed or was reset first; `upstream_response_timeout`
/// / `upstream_per_try_timeout` for Envoy's timeouts (gateway errors, 504, as
/// Envoy's outlier detection counts them).
pub fn classify(status: Option<u16>, details: &[u8]) -> Option<RequestOutcome> {
    match details {
        b"via_upstream" => status.map(RequestOutcome::Status),
        // Envoy counts its own timeouts as gateway errors (504).
        b"upstream_response_timeout" | b"upstream_per_try_timeout" => {
            Some(RequestOutcome::Status(504))
        }
        // No connection, or it was reset before a response started.
        d if d.starts_with(b"upstream_reset_before_response_started")
            || d.starts_with(b"upstream_connect") =>
        {
            Some(RequestOutcome::ConnectFailure)
        }
        // A response whose source Envoy did not name (older Envoys).
        b"" => status.map(RequestOutcome::Status),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_envoy_code_details() {
        use RequestOutcome::*;
        assert_eq!(classify(Some(503), b"via_upstream"), Some(Status(503)));
        assert_eq!(classify(Some(200), b"via_upstream"), Some(Status(200)));
        assert_eq!(classify(None, b"via_upstream"), None);
        assert_eq!(
            classify(
                Some(503),
                b"upstream_reset_before_response_started{remote_connection_failure}"
            ),
            Some(ConnectFailure)
        );
        assert_eq!(
            classify(
                None,
                b"upstream_reset_before_response_started{connection_termination}"
            ),
            Some(ConnectFailure)
        );
        assert_eq!(
            classify(Some(504), b"upstream_response_timeout"),
            Some(Status(504))
        );
        assert_eq!(classify(Some(503), b"no_healthy_upstream"), None);
        assert_eq!(classify(None, b"downstream_remote_disconnect"), None);
        assert_eq!(classify(Some(502), b""), Some(Status(502)));
    }
}
