//! The disk's fsync rate: the ceiling for acknowledging durable writes one at
//! a time. Appends 100 bytes and calls `fdatasync` (what a SQLite WAL commit
//! costs at least), over and over, in the directory the data would live in.

use hdrhistogram::Histogram;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct FsyncResult {
    pub syncs: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
}

pub fn measure(dir: &Path, duration: Duration) -> io::Result<FsyncResult> {
    let path = dir.join("huddle-fsync-probe");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let mut latency_us = super::latency_histogram();
    let record = [b'x'; 100];
    let started = Instant::now();
    let mut syncs = 0;
    while started.elapsed() < duration {
        let before = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        latency_us.saturating_record(before.elapsed().as_micros().max(1) as u64);
        syncs += 1;
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(FsyncResult { syncs, elapsed, latency_us })
}
