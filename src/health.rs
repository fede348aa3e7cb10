//! `ltv-pipes health`: the probe a container runtime runs. Plain HTTP/1.0
//! over a std socket, so the runtime image needs no curl, wget or bash.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context};

const PATIENCE: Duration = Duration::from_secs(3);

/// Succeeds when `GET /health` on `listen` answers 200 within 3 s.
pub fn probe(listen: SocketAddr) -> anyhow::Result<()> {
    let addr = loopback_for(listen);
    let mut stream = TcpStream::connect_timeout(&addr, PATIENCE)
        .with_context(|| format!("nothing answers on {addr}"))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    write!(
        stream,
        "GET /health HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    // The status line is all we need; the body is a few bytes.
    let mut head = [0u8; 64];
    let n = stream
        .read(&mut head)
        .with_context(|| format!("no answer from {addr}"))?;
    let status = status_code(&head[..n]);
    if status != Some(200) {
        bail!("GET http://{addr}/health answered {status:?}, not 200");
    }
    println!("ok");
    Ok(())
}

/// A server listening on every address (0.0.0.0, ::) is asked on loopback.
fn loopback_for(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The code of an `HTTP/1.x NNN ...` status line.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn the_unspecified_address_is_asked_on_loopback() {
        let any: SocketAddr = "0.0.0.0:7181".parse().unwrap();
        assert_eq!(loopback_for(any).to_string(), "127.0.0.1:7181");
        let any6: SocketAddr = "[::]:80".parse().unwrap();
        assert_eq!(loopback_for(any6).to_string(), "[::1]:80");
        let one: SocketAddr = "10.0.0.5:9000".parse().unwrap();
        assert_eq!(loopback_for(one), one);
    }
}
