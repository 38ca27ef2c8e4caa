//! A blocking DEALER on the engine's own codec: one connection, frames in
//! and out, NULL or CURVE. For tests that must put on the wire what libzmq
//! never would (a replayed or tampered box, a half-sent frame) and for load
//! generation that costs less than the server it measures.

use super::codec::{self, COMMAND, Fault, GREETING_LEN, MORE, Mechanism};
use super::curve::{Channel, ClientHandshake};
use super::sodium::Key;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The largest frame a client takes.
const MAX_FRAME: usize = 64 * 1024 * 1024;

/// CURVE keys of a client: the server's public key, and the client's pair.
#[derive(Clone, Copy)]
pub struct CurveKeys {
    pub server: Key,
    pub public: Key,
    pub secret: Key,
}

pub struct Client {
    stream: TcpStream,
    channel: Option<Channel>,
    input: Vec<u8>,
    plain: Vec<u8>,
    /// The frames of a message whose last frame has not come yet.
    partial: Vec<Vec<u8>>,
}

fn refused(fault: Fault) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, fault.0)
}

impl Client {
    /// Connects and finishes the handshake (within `timeout`).
    pub fn connect(address: SocketAddr, curve: Option<CurveKeys>, timeout: Duration) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&address, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut client = Client { stream, channel: None, input: Vec::new(), plain: Vec::new(), partial: Vec::new() };
        let mechanism = if curve.is_some() { Mechanism::Curve } else { Mechanism::Null };
        client.stream.write_all(&codec::greeting(mechanism, false))?;
        let greeting = client.read_exact_bytes(GREETING_LEN)?;
        if codec::greeting_mechanism(&greeting).map_err(refused)? != mechanism {
            return Err(refused(Fault("the server speaks another mechanism")));
        }
        let metadata = codec::metadata(&[(b"Socket-Type", b"DEALER"), (b"Identity", b"")]);
        match curve {
            None => {
                client.write_command_frame(&codec::command(b"READY", &metadata))?;
                client.expect_command(b"READY")?;
            }
            Some(keys) => {
                let mut handshake = ClientHandshake::new(keys.server, keys.public, keys.secret);
                client.write_command_frame(&handshake.hello())?;
                let welcome = client.expect_command(b"WELCOME")?;
                client.write_command_frame(&handshake.welcome(&welcome, &metadata).map_err(refused)?)?;
                let ready = client.expect_command(b"READY")?;
                client.channel = Some(handshake.ready(&ready).map_err(refused)?.1);
            }
        }
        client.stream.set_read_timeout(None)?;
        Ok(client)
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// The bytes of a message of `frames`, as [`Client::send`] would write them.
    pub fn encode(&mut self, frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (index, frame) in frames.iter().enumerate() {
            let more = index + 1 < frames.len();
            match &mut self.channel {
                None => codec::write_frame(&mut out, if more { MORE } else { 0 }, frame),
                Some(channel) => channel.seal_frame(&mut out, more, false, frame, &mut self.plain),
            }
        }
        out
    }

    pub fn send(&mut self, frames: &[&[u8]]) -> io::Result<()> {
        let bytes = self.encode(frames);
        self.stream.write_all(&bytes)
    }

    /// Writes bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next message's frames.
    pub fn recv(&mut self) -> io::Result<Vec<Vec<u8>>> {
        loop {
            if let Some(message) = self.decode_message()? {
                return Ok(message);
            }
            self.fill()?;
        }
    }

    /// The next message if it has come whole, reading what the socket holds
    /// without waiting for more.
    pub fn try_recv(&mut self) -> io::Result<Option<Vec<Vec<u8>>>> {
        loop {
            if let Some(message) = self.decode_message()? {
                return Ok(Some(message));
            }
            let mut chunk = [0; 64 * 1024];
            // SAFETY: the buffer is valid for its length; MSG_DONTWAIT makes
            // this one read non-blocking while writes still block.
            let count = unsafe {
                libc::recv(self.stream.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len(), libc::MSG_DONTWAIT)
            };
            match count {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                count if count > 0 => self.input.extend_from_slice(&chunk[..count as usize]),
                _ => {
                    let error = io::Error::last_os_error();
                    match error.kind() {
                        io::ErrorKind::WouldBlock => return Ok(None),
                        io::ErrorKind::Interrupted => {}
                        _ => return Err(error),
                    }
                }
            }
        }
    }

    /// The descriptor of the connection, to wait on it in a poll.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.stream.as_raw_fd()
    }

    /// A whole message from what has been read; `None` until its last
    /// frame has come.
    fn decode_message(&mut self) -> io::Result<Option<Vec<Vec<u8>>>> {
        let mut at = 0;
        let mut message = None;
        while let Some((frame, taken)) = codec::parse_frame(&self.input[at..], MAX_FRAME).map_err(refused)? {
            at += taken;
            let (more, command, body) = match &mut self.channel {
                None => (frame.more(), frame.is_command(), frame.body.to_vec()),
                Some(channel) => {
                    let opened = channel.open_frame(frame.body).map_err(refused)?;
                    (opened.more, opened.command, opened.body)
                }
            };
            if command {
                continue;
            }
            self.partial.push(body);
            if !more {
                message = Some(std::mem::take(&mut self.partial));
                break;
            }
        }
        self.input.drain(..at);
        Ok(message)
    }

    fn write_command_frame(&mut self, body: &[u8]) -> io::Result<()> {
        let mut out = Vec::new();
        codec::write_frame(&mut out, COMMAND, body);
        self.stream.write_all(&out)
    }

    fn expect_command(&mut self, name: &[u8]) -> io::Result<Vec<u8>> {
        let (flags, body) = self.read_frame()?;
        let (got, _) = codec::parse_command(&body).map_err(refused)?;
        if flags & COMMAND == 0 || got != name {
            let refusal = if got == b"ERROR" { "the server refused the handshake" } else { "unexpected command" };
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, refusal));
        }
        Ok(body)
    }

    fn read_frame(&mut self) -> io::Result<(u8, Vec<u8>)> {
        loop {
            if let Some((frame, taken)) = codec::parse_frame(&self.input, MAX_FRAME).map_err(refused)? {
                let read = (frame.flags, frame.body.to_vec());
                self.input.drain(..taken);
                return Ok(read);
            }
            self.fill()?;
        }
    }

    fn read_exact_bytes(&mut self, count: usize) -> io::Result<Vec<u8>> {
        while self.input.len() < count {
            self.fill()?;
        }
        Ok(self.input.drain(..count).collect())
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0; 64 * 1024];
        match self.stream.read(&mut chunk)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            count => {
                self.input.extend_from_slice(&chunk[..count]);
                Ok(())
            }
        }
    }
}
