//! A clean stop as a file descriptor that `zmq::poll` can watch.
//!
//! SIGINT and SIGTERM (or [`Shutdown::trigger`], for servers run as threads)
//! write one byte into a socket pair. Nobody reads it, so it stays readable:
//! every server loop polling the same [`Shutdown`] wakes and stops. No timer,
//! no flag checked in a loop.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

/// Cheap to clone: every clone watches and triggers the same stop.
#[derive(Clone)]
pub struct Shutdown {
    pipe: Arc<Pipe>,
}

struct Pipe {
    reader: UnixStream,
    writer: UnixStream,
}

impl Shutdown {
    pub fn new() -> io::Result<Shutdown> {
        let (reader, writer) = UnixStream::pair()?;
        writer.set_nonblocking(true)?;
        Ok(Shutdown { pipe: Arc::new(Pipe { reader, writer }) })
    }

    /// Makes SIGINT and SIGTERM trigger this shutdown (instead of killing the
    /// process on the spot).
    pub fn on_signals(&self) -> io::Result<()> {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::low_level::pipe::register(signal, self.pipe.writer.try_clone()?)?;
        }
        Ok(())
    }

    /// Asks everyone watching to stop.
    pub fn trigger(&self) {
        // A full buffer means a stop is already pending: nothing is lost.
        let _ = (&self.pipe.writer).write(&[1]);
    }

    /// A poll item that becomes readable once a stop is asked for.
    pub fn poll_item(&self) -> zmq::PollItem<'static> {
        zmq::PollItem::from_fd(self.pipe.reader.as_raw_fd(), zmq::POLLIN)
    }

    /// The descriptor that becomes readable once a stop is asked for, for
    /// loops that poll without ZeroMQ.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.pipe.reader.as_raw_fd()
    }

    /// Waits up to `timeout` for a stop; `true` if one was asked for.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut items = [self.poll_item()];
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        loop {
            match zmq::poll(&mut items, timeout_ms) {
                Ok(_) => return items[0].is_readable(),
                Err(zmq::Error::EINTR) => continue,
                Err(_) => return false,
            }
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.wait(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_wakes_every_clone() {
        let shutdown = Shutdown::new().unwrap();
        let clone = shutdown.clone();
        assert!(!clone.is_triggered());
        shutdown.trigger();
        assert!(clone.wait(Duration::from_secs(5)));
        assert!(shutdown.is_triggered());
    }
}
