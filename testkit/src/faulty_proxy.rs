//! A TCP proxy on loopback that makes the server behind it misbehave on
//! demand — never answer, reset connections, answer slowly, stop halfway
//! through an answer — for tests of what a client's timeouts and retries
//! do about it.
//!
//! A connection's [`Fault`] is the one set when it is accepted: a client
//! that keeps its connections open (an HTTP pool) sees a new fault only on
//! the connections it opens after it is set.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// What the proxy does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards both ways, unchanged.
    Pass,
    /// Takes the request and never answers: the server is never asked.
    Stall,
    /// Resets the connection (RST, not FIN) as soon as it is accepted.
    Reset,
    /// Resets the connection once the request's first bytes have arrived,
    /// without asking the server.
    ResetAfterRequest,
    /// Forwards the first `bytes` of the server's answer (headers and part
    /// of a body), then nothing more, keeping the connection open.
    StallAfter { bytes: usize },
    /// Forwards the server's answer at `bytes_per_sec`.
    Slow { bytes_per_sec: u64 },
}

/// Connections handled at once; more are reset at once, so that a client
/// gone wild cannot make a test's proxy hold unbounded sockets.
const MAX_LIVE: usize = 256;

/// Forwards connections on a loopback port to a target, with a [`Fault`]
/// switchable while it runs. Runs on a runtime of its own (one thread),
/// whatever the test's is; dropping it closes every connection.
pub struct FaultyProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Shared {
    plan: Mutex<Plan>,
    connections: AtomicUsize,
    live: Arc<Semaphore>,
}

struct Plan {
    fault: Fault,
    /// Connections left before the fault gives way to [`Fault::Pass`];
    /// `None`: until it is set again.
    left: Option<usize>,
}

impl FaultyProxy {
    /// A proxy to `target`, passing connections through until told
    /// otherwise.
    pub fn start(target: SocketAddr) -> FaultyProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            plan: Mutex::new(Plan {
                fault: Fault::Pass,
                left: None,
            }),
            connections: AtomicUsize::new(0),
            live: Arc::new(Semaphore::new(MAX_LIVE)),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("faulty-proxy")
            .enable_all()
            .build()
            .expect("the proxy's runtime");
        runtime.spawn(accept(listener, target, shared.clone()));
        FaultyProxy {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `fault` for every connection accepted from now on.
    pub fn set(&self, fault: Fault) {
        *self.shared.plan.lock().expect("plan") = Plan { fault, left: None };
    }

    /// `fault` for the next `connections` connections, then
    /// [`Fault::Pass`]: a server that recovers.
    pub fn set_for(&self, fault: Fault, connections: usize) {
        *self.shared.plan.lock().expect("plan") = if connections == 0 {
            Plan {
                fault: Fault::Pass,
                left: None,
            }
        } else {
            Plan {
                fault,
                left: Some(connections),
            }
        };
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        // Not a plain drop: tests drop the proxy inside their own runtime,
        // where waiting for this one's tasks is not allowed.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Shared {
    /// The fault for a connection just accepted.
    fn next_fault(&self) -> Fault {
        let mut plan = self.plan.lock().expect("plan");
        let fault = plan.fault;
        if let Some(left) = plan.left.as_mut() {
            *left -= 1;
            if *left == 0 {
                *plan = Plan {
                    fault: Fault::Pass,
                    left: None,
                };
            }
        }
        fault
    }
}

async fn accept(listener: std::net::TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    let listener = TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let fault = shared.next_fault();
        let Ok(permit) = shared.live.clone().try_acquire_owned() else {
            reset(client);
            continue;
        };
        tokio::spawn(async move {
            handle(client, target, fault).await;
            drop(permit);
        });
    }
}

/// Closes with RST: the peer's next read or write fails with "connection
/// reset", as when a server process dies.
fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

async fn handle(mut client: TcpStream, target: SocketAddr, fault: Fault) {
    match fault {
        Fault::Reset => reset(client),
        Fault::ResetAfterRequest => {
            let mut buf = [0u8; 4096];
            let _ = client.read(&mut buf).await;
            reset(client);
        }
        Fault::Stall => drain(&mut client).await,
        Fault::Pass => relay(client, target, None, None).await,
        Fault::StallAfter { bytes } => relay(client, target, Some(bytes), None).await,
        Fault::Slow { bytes_per_sec } => {
            relay(client, target, None, Some(bytes_per_sec.max(1))).await
        }
    }
}

/// Reads what the client sends, until it closes, and answers nothing.
async fn drain(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Forwards between `client` and a new connection to `target`, the answer
/// cut off after `stall_after` bytes or paced at `rate` bytes a second.
/// Ends when the client closes, or when the server does and its answer is
/// forwarded.
async fn relay(
    client: TcpStream,
    target: SocketAddr,
    stall_after: Option<usize>,
    rate: Option<u64>,
) {
    let Ok(server) = TcpStream::connect(target).await else {
        reset(client);
        return;
    };
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut client_rd, &mut server_wr).await;
        let _ = server_wr.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        let start = Instant::now();
        let mut sent: u64 = 0;
        loop {
            let n = match server_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut chunk = &buf[..n];
            let cut = stall_after.is_some_and(|limit| sent + n as u64 >= limit as u64);
            if let Some(limit) = stall_after.filter(|_| cut) {
                chunk = &chunk[..(limit as u64 - sent) as usize];
            }
            match rate {
                None => {
                    if client_wr.write_all(chunk).await.is_err() {
                        return;
                    }
                    sent += chunk.len() as u64;
                }
                // Small pieces, each sent when the rate allows it, so that
                // the client sees a steady trickle rather than bursts.
                Some(rate) => {
                    let piece = (rate / 20).max(1) as usize;
                    for p in chunk.chunks(piece) {
                        let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
                        tokio::time::sleep_until(due).await;
                        if client_wr.write_all(p).await.is_err() {
                            return;
                        }
                        sent += p.len() as u64;
                    }
                }
            }
            if cut {
                std::future::pending::<()>().await;
            }
        }
        let _ = client_wr.shutdown().await;
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}
