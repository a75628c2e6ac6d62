//! A TCP relay between s3seal and Garage that fails on command: it can stop
//! listening (connections refused, as when the store is down), cut every open
//! connection (the store's process dying), cut a connection once it has
//! carried a given number of bytes one way (dying mid-PUT or mid-GET), or
//! stall one there, open but silent (a store that hangs).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct FaultRelay {
    pub port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    target: SocketAddr,
    down: AtomicBool,
    /// Cut a connection after it carried this many bytes toward the store.
    cut_after_sent: AtomicU64,
    /// Cut a connection after it carried this many bytes back from the store.
    cut_after_received: AtomicU64,
    /// Stop carrying bytes toward the store after this many (per connection).
    stall_after_sent: AtomicU64,
    /// Stop carrying bytes back from the store after this many.
    stall_after_received: AtomicU64,
    open: Mutex<Vec<TcpStream>>,
}

impl FaultRelay {
    /// Relays 127.0.0.1:<port> to `target`.
    pub fn start(target: SocketAddr) -> FaultRelay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the relay");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            target,
            down: AtomicBool::new(false),
            cut_after_sent: AtomicU64::new(u64::MAX),
            cut_after_received: AtomicU64::new(u64::MAX),
            stall_after_sent: AtomicU64::new(u64::MAX),
            stall_after_received: AtomicU64::new(u64::MAX),
            open: Mutex::new(Vec::new()),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || accept_loop(listener, port, accepting));
        FaultRelay { port, shared }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops listening and cuts every open connection (`true`), or listens again.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
        if down {
            self.cut_all();
        }
        // Let the accept loop close or reopen the socket.
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Cuts every connection open now.
    pub fn cut_all(&self) {
        for stream in self.shared.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Cuts connections after `bytes` toward the store (`None`: never).
    pub fn cut_after_sent(&self, bytes: Option<u64>) {
        set_limit(&self.shared.cut_after_sent, bytes);
    }

    /// Cuts connections after `bytes` back from the store (`None`: never).
    pub fn cut_after_received(&self, bytes: Option<u64>) {
        set_limit(&self.shared.cut_after_received, bytes);
    }

    /// Holds connections silent, open, after `bytes` toward the store
    /// (`None`: carry on; held connections resume).
    pub fn stall_after_sent(&self, bytes: Option<u64>) {
        set_limit(&self.shared.stall_after_sent, bytes);
    }

    /// Holds connections silent, open, after `bytes` back from the store
    /// (`None`: carry on; held connections resume).
    pub fn stall_after_received(&self, bytes: Option<u64>) {
        set_limit(&self.shared.stall_after_received, bytes);
    }
}

/// Sets a byte limit; `None` (never) is stored as `u64::MAX`.
fn set_limit(limit: &AtomicU64, bytes: Option<u64>) {
    limit.store(bytes.unwrap_or(u64::MAX), Ordering::SeqCst);
}

/// How one direction of a connection may fail.
struct Faults<'a> {
    cut_after: &'a AtomicU64,
    stall_after: &'a AtomicU64,
}

fn accept_loop(listener: TcpListener, port: u16, shared: Arc<Shared>) {
    let mut listener = Some(listener);
    loop {
        if shared.down.load(Ordering::SeqCst) {
            // Closing the socket makes connecting fail at once (refused).
            listener = None;
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let Some(bound) = &listener else {
            listener = TcpListener::bind(("127.0.0.1", port)).ok();
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        bound.set_nonblocking(true).unwrap();
        match bound.accept() {
            Ok((client, _)) => {
                client.set_nonblocking(false).unwrap();
                relay(client, shared.clone());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn relay(client: TcpStream, shared: Arc<Shared>) {
    let Ok(store) = TcpStream::connect(shared.target) else {
        return;
    };
    {
        let mut open = shared.open.lock().unwrap();
        open.push(client.try_clone().unwrap());
        open.push(store.try_clone().unwrap());
    }
    let both = (client.try_clone().unwrap(), store.try_clone().unwrap());
    let (c2, s2) = (client.try_clone().unwrap(), store.try_clone().unwrap());
    let toward = shared.clone();
    std::thread::spawn(move || {
        let faults = Faults {
            cut_after: &toward.cut_after_sent,
            stall_after: &toward.stall_after_sent,
        };
        pump(client, store, faults, both)
    });
    let back = shared.clone();
    let both = (c2.try_clone().unwrap(), s2.try_clone().unwrap());
    std::thread::spawn(move || {
        let faults = Faults {
            cut_after: &back.cut_after_received,
            stall_after: &back.stall_after_received,
        };
        pump(s2, c2, faults, both)
    });
}

/// Copies `from` → `to` until either end closes; cuts both once the cut
/// limit's bytes went through, or holds still while the stall limit is reached.
fn pump(mut from: TcpStream, mut to: TcpStream, faults: Faults, both: (TcpStream, TcpStream)) {
    let mut carried = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while carried >= faults.stall_after.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let unstalled = faults.stall_after.load(Ordering::SeqCst) - carried;
        let room = (buf.len() as u64).min(unstalled) as usize;
        let n = match from.read(&mut buf[..room]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let allowed = faults
            .cut_after
            .load(Ordering::SeqCst)
            .saturating_sub(carried);
        let n_now = (n as u64).min(allowed) as usize;
        if to.write_all(&buf[..n_now]).is_err() {
            break;
        }
        carried += n_now as u64;
        if n_now < n {
            let _ = both.0.shutdown(Shutdown::Both);
            let _ = both.1.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
