//! One access-log line per request, in Envoy's default text format
//! (source/common/formatter/substitution_format_string.cc, `DefaultFormat`)
//! plus Weir's cluster and route, or as one JSON object with the same
//! fields: the fields and order of the Go proxy's log (go/proxy/telemetry.go),
//! so C and Go write the same lines.

use crate::config::policy::log_filter::LogAttributes;
use crate::config::policy::telemetry::AccessLogging;
use crate::request::Headers;
use std::fmt::Write;

/// Text (Envoy's default format) or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything one line prints, borrowed from the proxy.
#[derive(Clone, Copy)]
pub struct AccessLogRecord<'a> {
    /// Request start, milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub method: &'a str,
    /// `x-envoy-original-path` if set, else `:path`.
    pub path: &'a str,
    /// `HTTP/1.1`, `HTTP/2`…
    pub protocol: &'a str,
    pub response_code: u16,
    /// As Envoy prints them (`-` for none).
    pub response_flags: &'a str,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub duration_ms: u64,
    pub x_forwarded_for: &'a str,
    pub user_agent: &'a str,
    pub request_id: &'a str,
    pub authority: &'a str,
    pub upstream_host: &'a str,
    pub upstream_cluster: &'a str,
    pub route_name: &'a str,
    /// The request's headers, for `request.headers[…]` in a log filter.
    pub headers: &'a dyn Headers,
    /// `grpc-status` of a gRPC response, for the filter.
    pub grpc_status: Option<u8>,
}

impl std::fmt::Debug for AccessLogRecord<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLogRecord")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("response_code", &self.response_code)
            .finish_non_exhaustive()
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of Unix milliseconds (days to civil date
/// after Howard Hinnant's `civil_from_days`).
pub fn write_time(out: &mut String, ms: u64) {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    );
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl AccessLogRecord<'_> {
    /// What a Telemetry `filter.expression` reads of this request.
    pub fn attributes(&self) -> LogAttributes<'_> {
        LogAttributes {
            method: self.method,
            host: self.authority,
            path: self.path,
            headers: self.headers,
            response_code: self.response_code,
            grpc_status: self.grpc_status,
            duration_ms: self.duration_ms,
            request_size: self.bytes_received,
            response_size: self.bytes_sent,
            flags: self.response_flags,
        }
    }

    /// Whether `policy` logs this request (no policy: every request).
    pub fn is_logged(&self, policy: Option<&AccessLogging>) -> bool {
        match policy {
            None => true,
            Some(p) if !p.enabled => false,
            Some(p) => p
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&self.attributes())),
        }
    }

    /// Appends the line (ending in `\n`) to `out`.
    pub fn write(&self, format: LogFormat, out: &mut String) {
        let mut time = String::with_capacity(24);
        write_time(&mut time, self.start_ms);
        let (code, rx, tx, dur) = (
            self.response_code.to_string(),
            self.bytes_received.to_string(),
            self.bytes_sent.to_string(),
            self.duration_ms.to_string(),
        );
        let fields: [(&str, &str); 17] = [
            ("start_time", &time),
            ("method", self.method),
            ("path", self.path),
            ("protocol", self.protocol),
            ("response_code", &code),
            ("response_flags", dash(self.response_flags)),
            ("bytes_received", &rx),
            ("bytes_sent", &tx),
            ("duration", &dur),
            ("upstream_service_time", "-"),
            ("x_forwarded_for", dash(self.x_forwarded_for)),
            ("user_agent", dash(self.user_agent)),
            ("request_id", dash(self.request_id)),
            ("authority", dash(self.authority)),
            ("upstream_host", dash(self.upstream_host)),
            ("upstream_cluster", dash(self.upstream_cluster)),
            ("route_name", dash(self.route_name)),
        ];
        match format {
            LogFormat::Json => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_string(out, k);
                    out.push(':');
                    json_string(out, v);
                }
                out.push_str("}\n");
            }
            LogFormat::Text => {
                let v = |i: usize| fields[i].1;
                let _ = writeln!(
                    out,
                    "[{}] \"{} {} {}\" {} {} {} {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {} {}",
                    v(0),
                    v(1),
                    v(2),
                    v(3),
                    v(4),
                    v(5),
                    v(6),
                    v(7),
                    v(8),
                    v(9),
                    v(10),
                    v(11),
                    v(12),
                    v(13),
                    v(14),
                    v(15),
                    v(16)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::policy::log_filter::LogFilter;
    use crate::diagnostic::ResourceRef;
    use crate::request::HeaderList;

    fn record<'a>(code: u16, h: &'a HeaderList<'a>) -> AccessLogRecord<'a> {
        AccessLogRecord {
            start_ms: 1_700_000_000_123,
            method: "GET",
            path: "/productpage?u=\"x\"",
            protocol: "HTTP/1.1",
            response_code: code,
            response_flags: "",
            bytes_received: 0,
            bytes_sent: 1683,
            duration_ms: 7,
            x_forwarded_for: "",
            user_agent: "curl/8.5.0",
            request_id: "0b8e1f4c-1f4a-4c2e-9d3a-2f1b7c9d8e01",
            authority: "productpage:9080",
            upstream_host: "10.0.0.7:9080",
            upstream_cluster: "outbound|9080|v1|productpage.default.svc.cluster.local",
            route_name: "default/productpage/0",
            headers: h,
            grpc_status: None,
        }
    }

    #[test]
    fn lines_in_envoys_default_format_and_json() {
        let h = HeaderList(&[]);
        let mut text = String::new();
        record(200, &h).write(LogFormat::Text, &mut text);
        assert_eq!(
            text,
            "[2023-11-14T22:13:20.123Z] \"GET /productpage?u=\"x\" HTTP/1.1\" 200 - 0 1683 7 - \"-\" \
             \"curl/8.5.0\" \"0b8e1f4c-1f4a-4c2e-9d3a-2f1b7c9d8e01\" \"productpage:9080\" \
             \"10.0.0.7:9080\" outbound|9080|v1|productpage.default.svc.cluster.local default/productpage/0\n"
        );
        let mut json = String::new();
        record(503, &h).write(LogFormat::Json, &mut json);
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).expect("json");
        assert_eq!(v["path"], "/productpage?u=\"x\"");
        assert_eq!(v["response_code"], "503");
        assert_eq!(v["start_time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v.as_object().map(|o| o.len()), Some(17));
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        let rows = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in rows {
            let mut s = String::new();
            write_time(&mut s, ms);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn the_telemetry_policy_decides_what_is_logged() {
        let h = HeaderList(&[]);
        let policy = |enabled, filter: Option<&str>| AccessLogging {
            resource: ResourceRef {
                kind: "Telemetry".into(),
                namespace: "ns".into(),
                name: "t".into(),
            },
            enabled,
            filter: filter.map(|f| LogFilter::parse(f).expect(f)),
        };
        let errors = policy(true, Some("response.code >= 400"));
        let rows = [
            (None, 200, true),
            (Some(policy(false, None)), 500, false),
            (Some(errors.clone()), 200, false),
            (Some(errors), 404, true),
        ];
        for (p, code, want) in rows {
            assert_eq!(record(code, &h).is_logged(p.as_ref()), want, "{p:?} {code}");
        }
    }
}
