//! The report printed for people.

use super::Report;
use std::fmt::Write;

impl Report {
    /// The report for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.render_into(&mut out);
        out
    }

    /// Writes the report for people into `out`.
    fn render_into(&self, out: &mut String) -> std::fmt::Result {
        let c = &self.config;
        writeln!(out, "=== ljwx-stress report (run {}) ===", c.run_id)?;
        writeln!(out, "Configuration")?;
        writeln!(out, "  target:           {}", c.url)?;
        writeln!(out, "  mode:             {}", c.mode)?;
        if let Some(users) = c.users {
            write!(out, "  users:            {users}")?;
            if let Some(started) = c.users_started.filter(|&s| s != users) {
                write!(out, " (only {started} started before the deadline)")?;
            }
            writeln!(out)?;
        }
        if let Some(batches) = c.batches {
            writeln!(out, "  backlog:          {batches} batches per user")?;
            match (c.drained_s, c.users_drained) {
                (Some(s), _) => writeln!(
                    out,
                    "  drained in:       {s:.2} s (every user's backlog stored)"
                )?,
                (None, Some(n)) => writeln!(
                    out,
                    "  drained:          only {n} users before the deadline"
                )?,
                (None, None) => {}
            }
        }
        if let Some([lo, hi]) = c.think_s {
            writeln!(out, "  think time:       {lo:.1}–{hi:.1} s")?;
        }
        if let Some(rate) = c.rate {
            writeln!(out, "  rate:             {rate} requests/s")?;
        }
        if let Some(max) = c.max_in_flight {
            writeln!(out, "  max in flight:    {max}")?;
        }
        if let Some(scheduled) = c.scheduled {
            writeln!(out, "  scheduled:        {scheduled} requests")?;
        }
        if let Some(lag) = c.max_send_lag_ms {
            writeln!(
                out,
                "  max send lag:     {lag:.1} ms (due time → sent; counted in latency)"
            )?;
        }
        writeln!(out, "  batch size:       {} records", c.batch_size)?;
        writeln!(
            out,
            "  duration:         {} s (elapsed {:.2} s incl. drain)",
            c.duration_s, self.elapsed_s
        )?;
        writeln!(out, "  timeout:          {} s", c.timeout_s)?;
        writeln!(
            out,
            "  devices:          {} ({}{:04}..{}{:04})",
            c.devices, c.device_prefix, 1, c.device_prefix, c.devices
        )?;
        if let Some([first, last]) = c.timestamps {
            writeln!(
                out,
                "  timestamps:       {first}..={last} ({} s per device)",
                last - first + 1
            )?;
        }

        let r = &self.requests;
        writeln!(out, "Requests")?;
        writeln!(out, "  total:            {}", r.total)?;
        writeln!(out, "  successful:       {}", r.ok)?;
        writeln!(out, "  failed:           {}", r.failed)?;
        writeln!(out, "  success rate:     {:.2}%", r.success_rate_pct)?;
        writeln!(out, "  QPS:              {:.2}", r.qps)?;
        writeln!(out, "  successful QPS:   {:.2}", r.successful_qps)?;

        let rec = &self.records;
        writeln!(out, "Records")?;
        writeln!(
            out,
            "  sent:             {} ({:.1}/s)",
            rec.sent, rec.sent_per_s
        )?;
        writeln!(
            out,
            "  acknowledged:     {} ({:.1}/s)",
            rec.acknowledged, rec.acknowledged_per_s
        )?;
        writeln!(out, "  inserted:         {}", rec.inserted)?;
        write!(out, "  duplicates:       {}", rec.duplicates)?;
        if rec.duplicates > 0 {
            // A run never repeats a (deviceSn, timestamp) of its own.
            write!(
                out,
                " (already stored by an earlier run with overlapping timestamps; \
                 use another --days-back or a fresh database)"
            )?;
        }
        writeln!(out)?;
        writeln!(out, "  unknown device:   {}", rec.unknown_device)?;
        writeln!(out, "  rejected:         {}", rec.rejected)?;

        let l = &self.latency_ms;
        writeln!(out, "Latency ({} samples)", l.samples)?;
        writeln!(out, "  avg:              {:.2} ms", l.avg)?;
        writeln!(out, "  min:              {:.2} ms", l.min)?;
        writeln!(out, "  max:              {:.2} ms", l.max)?;
        writeln!(out, "  P50:              {:.2} ms", l.p50)?;
        writeln!(out, "  P90:              {:.2} ms", l.p90)?;
        writeln!(out, "  P95:              {:.2} ms", l.p95)?;
        writeln!(out, "  P99:              {:.2} ms", l.p99)?;

        writeln!(out, "Errors by kind")?;
        if self.errors.is_empty() {
            writeln!(out, "  none")?;
        }
        for e in &self.errors {
            writeln!(
                out,
                "  {:<18}{} ({:.2}%)",
                format!("{}:", e.kind),
                e.count,
                e.pct
            )?;
        }
        let ra = &self.retry_after;
        writeln!(out, "  503s without Retry-After: {}", ra.http_503.without)?;
        writeln!(out, "  429s without Retry-After: {}", ra.http_429.without)?;

        writeln!(out, "Acceptance checks (seed targets)")?;
        for check in &self.checks {
            let verdict = if check.passed { "PASS" } else { "FAIL" };
            let actual = match check.actual {
                Some(v) => format!("{v:.3}{}", check.unit),
                None => "no data".to_owned(),
            };
            writeln!(out, "  [{verdict}] {}: actual {actual}", check.name)?;
        }

        if let Some(v) = &self.verify {
            writeln!(out, "Database verification")?;
            writeln!(
                out,
                "  acknowledged inserted: {}, stored: {}",
                v.acknowledged_inserted, v.stored
            )?;
            writeln!(
                out,
                "  acknowledged unknown: {}, quarantined: {}",
                v.acknowledged_unknown, v.quarantined
            )?;
            writeln!(
                out,
                "  stored but not acknowledged: {} (+{} quarantined)",
                v.stored_not_acknowledged, v.quarantined_not_acknowledged
            )?;
            writeln!(
                out,
                "  LOST: {} (health rows {}, quarantined {})",
                v.lost, v.lost_inserted, v.lost_unknown
            )?;
        }
        Ok(())
    }
}
