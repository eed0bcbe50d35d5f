//! A TCP proxy on loopback that can fail on purpose, for tests of what
//! happens when a connection dies at the worst moment.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Forwards every connection to `upstream`, byte for byte, until told to:
/// - [`Proxy::withhold_next_response`]: the next bytes the server sends
///   (its answer to a request already forwarded) are swallowed and that
///   connection left hanging — the request took effect, the client never
///   learns it did;
/// - [`Proxy::set_down`]: every open connection is cut and new ones are
///   closed at once, until it is set up again.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    withhold: AtomicBool,
    withheld: AtomicUsize,
    down: AtomicBool,
    stop: AtomicBool,
    /// Client sides of live connections, to cut them.
    live: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let proxy = Proxy {
            addr: listener.local_addr().expect("local address"),
            shared: Arc::default(),
        };
        let shared = proxy.shared.clone();
        std::thread::spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        if shared.down.load(Ordering::SeqCst) {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        }
                        connect(client, upstream, &shared);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        proxy
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn withhold_next_response(&self) {
        self.shared.withhold.store(true, Ordering::SeqCst);
    }

    /// Responses swallowed so far.
    pub fn withheld(&self) -> usize {
        self.shared.withheld.load(Ordering::SeqCst)
    }

    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
        if down {
            for c in self.shared.live.lock().expect("live list").drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

fn connect(client: TcpStream, upstream: SocketAddr, shared: &Arc<Shared>) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(mut c_in), Ok(mut s_out), Ok(c_live)) =
        (client.try_clone(), server.try_clone(), client.try_clone())
    else {
        return;
    };
    shared.live.lock().expect("live list").push(c_live);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut s_out);
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let shared = shared.clone();
    std::thread::spawn(move || {
        let (mut server, mut client) = (server, client);
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if shared.withhold.swap(false, Ordering::SeqCst) {
                shared.withheld.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = client.shutdown(Shutdown::Write);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.set_down(true);
    }
}
