//! The parts of a decision rendered on demand, at most once per decision,
//! into buffers the object keeps: upstream path, location, cookie,
//! mirrors and header edits.

use super::*;

impl weir_decision {
    /// The upstream path, rendered into this object on first use.
    pub(super) fn upstream_path(&mut self) -> R<weir_str> {
        // One field copied, not the whole decision.
        let path = self.get()?.upstream_path;
        Ok(match path {
            // The request's path: already copied (`keep_path`) or static.
            weir_core::decision::UpstreamPath::Unchanged(p) => weir_str::new(p),
            rewritten => {
                if self.ready & PATH == 0 {
                    self.upstream_path.clear();
                    let _ = rewritten.write_to(&mut self.upstream_path);
                    self.ready |= PATH;
                }
                weir_str::new(&self.upstream_path)
            }
        })
    }

    /// The redirect's `Location` (rendered at decide time), or empty.
    pub(super) fn location(&self) -> R<weir_str> {
        self.get()?;
        Ok(if self.ready & LOCATION != 0 {
            weir_str::new(&self.location)
        } else {
            weir_str::EMPTY
        })
    }

    /// The `Set-Cookie` value, rendered on first use, or empty.
    pub(super) fn set_cookie(&mut self) -> R<weir_str> {
        let Some(c) = self.get()?.set_cookie else {
            return Ok(weir_str::EMPTY);
        };
        if self.ready & COOKIE == 0 {
            self.set_cookie.clear();
            let _ = c.write_to(&mut self.set_cookie);
            self.ready |= COOKIE;
        }
        Ok(weir_str::new(&self.set_cookie))
    }

    /// The mirrors that fire, flattened on first use.
    pub(super) fn mirrors(&mut self) -> R<&[weir_mirror]> {
        let mirrors = self.get()?.mirrors;
        if self.ready & MIRRORS == 0 {
            self.mirrors.clear();
            self.mirrors.extend(mirrors.iter().map(|m| weir_mirror {
                cluster: weir_str::new(&m.cluster_name),
                host: weir_str::new(&m.host),
                per_million: m.per_million,
            }));
            self.ready |= MIRRORS;
        }
        Ok(&self.mirrors)
    }

    /// Request (`response == false`) or response header edits, flattened on first use.
    pub(super) fn header_edits(&mut self, response: bool) -> R<weir_header_edits> {
        let d = self.get()?;
        let (bit, ops) = if response {
            (RESPONSE_OPS, d.response_headers)
        } else {
            (REQUEST_OPS, d.request_headers)
        };
        let buf = if response {
            &mut self.response_ops
        } else {
            &mut self.request_ops
        };
        if self.ready & bit == 0 {
            self.ready |= bit;
            if ops.is_empty() {
                // Most routes edit no headers: no buffers to touch.
                buf.set.clear();
                buf.add.clear();
                buf.remove.clear();
                return Ok(weir_header_edits::EMPTY);
            }
            return Ok(buf.fill(ops));
        }
        Ok(weir_header_edits {
            set: array(&buf.set),
            set_len: buf.set.len(),
            add: array(&buf.add),
            add_len: buf.add.len(),
            remove: array(&buf.remove),
            remove_len: buf.remove.len(),
        })
    }
}
