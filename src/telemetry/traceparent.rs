//! W3C Trace Context (`traceparent`): continuing a caller's trace, or starting one.

use rand::RngCore;
use std::fmt::Write;

/// The trace a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// 16-byte trace id (never all zero).
    pub trace_id: [u8; 16],
    /// The caller's span, when the request carried a `traceparent`.
    pub parent_span_id: Option<[u8; 8]>,
    /// This request's own span id (never all zero).
    pub span_id: [u8; 8],
    /// The caller's sampled flag (a new trace is sampled).
    pub sampled: bool,
}

impl TraceContext {
    /// Continues the trace of a `traceparent` header value, or starts a new one when the
    /// header is absent or malformed (as the W3C spec asks).
    pub fn from_header(header: Option<&str>) -> Self {
        let mut rng = rand::rng();
        let mut span_id = [0u8; 8];
        while span_id == [0; 8] {
            rng.fill_bytes(&mut span_id);
        }
        if let Some((trace_id, parent, sampled)) = header.and_then(parse) {
            return Self {
                trace_id,
                parent_span_id: Some(parent),
                span_id,
                sampled,
            };
        }
        let mut trace_id = [0u8; 16];
        while trace_id == [0; 16] {
            rng.fill_bytes(&mut trace_id);
        }
        Self {
            trace_id,
            parent_span_id: None,
            span_id,
            sampled: true,
        }
    }

    /// The trace id as 32 lowercase hex digits (the `trace_id` of responses).
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The `traceparent` naming this request's span, for the response.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            hex(&self.trace_id),
            hex(&self.span_id),
            if self.sampled { "01" } else { "00" }
        )
    }
}

/// `00-<32 hex>-<16 hex>-<2 hex>`; ids must not be all zero; version `ff` is invalid.
fn parse(header: &str) -> Option<([u8; 16], [u8; 8], bool)> {
    let mut parts = header.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    // Version 00 has exactly four fields; later versions may append more.
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let trace_id: [u8; 16] = unhex(trace)?;
    let parent_id: [u8; 8] = unhex(parent)?;
    let flags: [u8; 1] = unhex(flags)?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some((trace_id, parent_id, flags[0] & 1 == 1))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2
        || !s
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_continued() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = TraceContext::from_header(Some(header));
        assert_eq!(ctx.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            ctx.parent_span_id,
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert!(ctx.sampled);
        let answer = ctx.traceparent();
        assert!(answer.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(!answer.contains("00f067aa0ba902b7"), "a span of our own");
    }

    #[test]
    fn malformed_or_zero_ids_start_a_new_trace() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "garbage",
        ] {
            let ctx = TraceContext::from_header(Some(bad));
            assert_eq!(ctx.parent_span_id, None, "{bad}");
            assert_ne!(
                ctx.trace_id_hex(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
        }
        let fresh = TraceContext::from_header(None);
        assert_eq!(fresh.trace_id_hex().len(), 32);
        assert_ne!(fresh.trace_id, [0; 16]);
    }
}
