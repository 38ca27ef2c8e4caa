//! Starting a `huddle` server (or any server that prints such a line) as a
//! child process and learning its address from the first line it prints
//! ("... listening on ADDRESS, ..."). The bench and the tests both start
//! servers this way, on ports the OS picks.

use std::io::{self, BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

/// A server process, killed when dropped.
pub struct SpawnedServer {
    pub child: Child,
    pub address: String,
    pub stdout: BufReader<ChildStdout>,
}

impl SpawnedServer {
    /// Starts `command` and waits for its ready line.
    pub fn start(mut command: Command) -> io::Result<SpawnedServer> {
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let Some(address) = address_in_ready_line(&line) else {
            let _ = child.kill();
            let status = child.wait()?;
            return Err(io::Error::other(format!("the server did not start ({status}); it printed {line:?}")));
        };
        Ok(SpawnedServer { child, address, stdout })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the process to stop (SIGTERM) and waits for its exit status.
    pub fn terminate(&mut self) -> io::Result<std::process::ExitStatus> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(io::Error::other)?;
        // SAFETY: kill(2) with a pid of our own child and a valid signal.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(io::Error::last_os_error());
        }
        self.child.wait()
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The address in a ready line: after "listening on ", up to a comma.
pub fn address_in_ready_line(line: &str) -> Option<String> {
    let rest = line.split("listening on ").nth(1)?;
    Some(rest.split(',').next()?.trim().to_owned())
}

/// The `huddle` binary that is running now, to start servers from.
pub fn huddle_command() -> io::Result<Command> {
    Ok(Command::new(std::env::current_exe()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_in_ready_lines() {
        let group = "huddle group \"g\" listening on 127.0.0.1:4000, data in /x, registering with h:1\n";
        assert_eq!(address_in_ready_line(group).unwrap(), "127.0.0.1:4000");
        assert_eq!(address_in_ready_line("huddle directory listening on 0.0.0.0:5555\n").unwrap(), "0.0.0.0:5555");
        assert_eq!(address_in_ready_line("error\n"), None);
    }
}
