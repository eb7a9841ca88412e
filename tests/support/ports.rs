//! Loopback ports for servers a test must name before they start (a
//! cluster's members are given each other's addresses on the command line).
//!
//! Asking the kernel for port 0 and releasing it is not enough: that port
//! comes from the ephemeral range (`net.ipv4.ip_local_port_range`,
//! 32768–60999 by default), the same range the kernel hands to every
//! outgoing connection, and a test that runs beside a load generator sees
//! its port taken by a client socket before the server binds it (a node
//! then exits at start with "address in use"). These ports come from below
//! that range, from a sequence this process walks, and are checked free
//! before they are handed out.

use std::sync::atomic::{AtomicU16, Ordering};

/// The range walked: below the Linux ephemeral range and above the ports
/// services commonly take.
const FIRST: u16 = 20_000;
const COUNT: u16 = 12_000;

static NEXT: AtomicU16 = AtomicU16::new(0);

/// A loopback port nothing is bound to now, never the same one twice in
/// this process (concurrent tests in one binary cannot pick the same one).
pub fn free_port() -> u16 {
    // Two test binaries never run at once under cargo, but a second run on
    // the same machine may: start each process at its own place.
    let start = (std::process::id() % u32::from(COUNT)) as u16;
    for _ in 0..COUNT {
        let step = NEXT.fetch_add(1, Ordering::Relaxed) % COUNT;
        let port = FIRST + (start + step) % COUNT;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT);
}
