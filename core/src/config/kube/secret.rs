//! Whether a Secret can serve as a gateway's TLS credential, decided at load
//! so that nothing of its data is kept.
//!
//! istiod's rules (`pilot/pkg/credentials/kube/secrets.go`, `ExtractCertInfo`):
//! non-empty `cert` and `key`, else non-empty `tls.crt` and `tls.key`; then
//! the certificate must parse (`ValidateCertificate`). Weir checks the PEM
//! armour and base64 body of every block, not the X.509 structure inside.

use crate::config::base64::decode_base64;
use serde_json::{Map, Value};

/// `None` when `secret` (the object, `data` base64 or `stringData` plain)
/// holds a usable certificate and key, else what is wrong (key names only).
pub(crate) fn tls_problem(secret: &Map<String, Value>) -> Option<String> {
    let value = |key: &str| -> Option<Option<Vec<u8>>> {
        if let Some(v) = secret.get("stringData").and_then(|d| d.get(key)) {
            return Some(v.as_str().map(|s| s.as_bytes().to_vec()));
        }
        let v = secret.get("data")?.get(key)?;
        Some(v.as_str().and_then(decode_base64))
    };
    let pair = |cert: &str, key: &str| match (value(cert), value(key)) {
        (Some(Some(c)), Some(Some(k))) if !c.is_empty() && !k.is_empty() => Some(Ok(c)),
        (Some(_), Some(_)) => Some(Err(format!(
            "found keys {cert:?} and {key:?}, but they were empty or not base64"
        ))),
        _ => None,
    };
    let cert = match pair("cert", "key").or_else(|| pair("tls.crt", "tls.key")) {
        Some(Ok(cert)) => cert,
        Some(Err(why)) => return Some(why),
        None => {
            return Some("no \"cert\" and \"key\" or \"tls.crt\" and \"tls.key\" keys".to_string())
        }
    };
    match std::str::from_utf8(&cert) {
        Ok(text) if pem_certificates(text) > 0 => None,
        _ => Some("the certificate is not a PEM CERTIFICATE block".to_string()),
    }
}

/// How many well-formed `CERTIFICATE` PEM blocks `text` holds; 0 when any
/// block is malformed.
fn pem_certificates(text: &str) -> usize {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut rest = text;
    let mut n = 0;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let Some(end) = body.find(END) else { return 0 };
        match decode_base64(&body[..end]) {
            Some(der) if !der.is_empty() => n += 1,
            _ => return 0,
        }
        rest = &body[end + END.len()..];
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";

    fn secret(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn b64(s: &str) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in s.as_bytes().chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn tls_credential_shapes() {
        let cases = [
            (
                serde_json::json!({"data": {"tls.crt": b64(PEM), "tls.key": b64("k")}}),
                None,
            ),
            (
                serde_json::json!({"data": {"cert": b64(PEM), "key": b64("k")}}),
                None,
            ),
            (
                serde_json::json!({"stringData": {"tls.crt": PEM, "tls.key": "k"}}),
                None,
            ),
            (
                serde_json::json!({"data": {"tls.crt": "", "tls.key": ""}}),
                Some("found keys \"tls.crt\" and \"tls.key\", but they were empty or not base64"),
            ),
            (
                serde_json::json!({"data": {"ca.crt": b64(PEM)}}),
                Some("no \"cert\" and \"key\" or \"tls.crt\" and \"tls.key\" keys"),
            ),
            (
                serde_json::json!({"data": {"tls.crt": b64("not a cert"), "tls.key": b64("k")}}),
                Some("the certificate is not a PEM CERTIFICATE block"),
            ),
            (
                serde_json::json!({"stringData": {"tls.crt": "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----", "tls.key": "k"}}),
                Some("the certificate is not a PEM CERTIFICATE block"),
            ),
            (
                serde_json::json!({}),
                Some("no \"cert\" and \"key\" or \"tls.crt\" and \"tls.key\" keys"),
            ),
        ];
        for (object, want) in cases {
            assert_eq!(
                tls_problem(&secret(object.clone())).as_deref(),
                want,
                "{object}"
            );
        }
    }
}
