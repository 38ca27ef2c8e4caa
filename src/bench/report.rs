//! What a bench run prints: one [`Report`] a measured line, as text for
//! people or as JSON for scripts.

use serde::Serialize;

/// One measured line.
#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: String,
    pub target: String,
    /// The load generator's client: huddle's own ZMTP codec, or libzmq.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<&'static str>,
    pub users: usize,
    pub window: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<u64>,
    /// fanout: messages sent a second, and deliveries members did not get.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_per_second: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed: Option<u64>,
    pub acknowledged: u64,
    pub refused: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub latency_us: Percentiles,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_ack: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_kib: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub(super) fn of(histogram: &hdrhistogram::Histogram<u64>) -> Percentiles {
        Percentiles {
            p50: histogram.value_at_quantile(0.50),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        let target = match (self.history, self.sent_per_second) {
            (Some(history), _) => format!("{}, {history} msgs", self.target),
            (_, Some(rate)) => format!("{}, {rate} sent/s", self.target),
            _ => self.target.clone(),
        };
        write!(
            f,
            "{:<12} {:<28} {:>4} users x{:<3} {:>10.0}/s   p50 {:>8.3} ms  p99 {:>8.3} ms  p99.9 {:>8.3} ms",
            self.mode,
            target,
            self.users,
            self.window,
            self.per_second,
            ms(self.latency_us.p50),
            ms(self.latency_us.p99),
            ms(self.latency_us.p999),
        )?;
        if let Some(cpu) = self.server_cpu_us_per_ack {
            write!(f, "   server {cpu:.1} µs CPU/ack")?;
        }
        if let Some(rss) = self.server_rss_kib {
            write!(f, ", RSS {:.1} MiB", rss as f64 / 1024.0)?;
        }
        if let Some(client) = self.client.filter(|client| *client != "engine") {
            write!(f, "   ({client} client)")?;
        }
        if self.refused > 0 {
            write!(f, "   ({} refused)", self.refused)?;
        }
        if let Some(missed) = self.missed.filter(|missed| *missed > 0) {
            write!(f, "   ({missed} pushes dropped, filled from history by a real client)")?;
        }
        Ok(())
    }
}
