//! What a server process costs: its CPU time and resident memory, read from
//! `/proc`, so the bench can report CPU per acknowledgement and RSS for a
//! server it started or was pointed at with `--pid`.

use std::time::Duration;

/// A server process to watch.
#[derive(Debug, Clone, Copy)]
pub struct Watched {
    pub pid: u32,
}

impl Watched {
    /// User plus system CPU time of all its threads so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(Duration::from_micros(ticks * 1_000_000 / per_second))
    }

    /// Resident memory now, in kibibytes.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = Watched { pid: std::process::id() };
        assert!(me.rss_kib().unwrap() > 0);
        let before = me.cpu_time().unwrap();
        let mut x = 0u64;
        for i in 0..200_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(me.cpu_time().unwrap() > before, "the loop above took CPU time");
    }
}
