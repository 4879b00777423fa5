//! A lean event-stream subscriber: one keep-alive connection read by a task of its own with
//! `recvmsg` (no HTTP client: the response head is checked, the chunked body decoded, frames
//! split on blank lines), each event's key (its `id`, or what the scenario makes of the frame)
//! and arrival noted twice: when the reader got to it, and when the kernel received its bytes
//! (`SO_TIMESTAMPNS`), which does not wait for the reader's turn on the cores. Frames without a
//! key (keep-alive comments) are skipped.

use std::io::{self, IoSliceMut};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use nix::sys::time::TimeSpec;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::load::Target;

/// An open event stream, read by a task of its own until dropped.
pub(crate) struct Subscriber {
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

/// What a subscriber has read.
#[derive(Default)]
struct Seen {
    /// Events received.
    events: AtomicU64,
    /// The key of the newest event.
    last_id: AtomicU64,
    /// Whether arrivals are noted.
    recording: AtomicBool,
    /// `(key, arrival)` of each event while recording: when the reader read it.
    arrivals: Mutex<Vec<(u64, Instant)>>,
    /// `(key, receipt)` of each event while recording: when the kernel received its bytes.
    receipts: Mutex<Vec<(u64, SystemTime)>>,
    /// Why the reader stopped, once it has.
    ended: Mutex<Option<String>>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    /// Opens `target` as an event stream and waits for its `200` head; its events are the
    /// frames with an `id:`, which is their key.
    pub(crate) async fn open(target: &Target) -> Self {
        Self::open_keyed(target, frame_id).await
    }

    /// Opens `target` as an event stream and waits for its `200` head; its events are the
    /// frames that `key` gives a key.
    pub(crate) async fn open_keyed(target: &Target, key: fn(&[u8]) -> Option<u64>) -> Self {
        let address = target.address;
        let mut stream = TcpStream::connect(address)
            .await
            .unwrap_or_else(|error| panic!("connecting to {address}: {error}"));
        stream.set_nodelay(true).expect("TCP_NODELAY can be set");
        setsockopt(&stream, sockopt::ReceiveTimestampns, &true).expect("SO_TIMESTAMPNS can be set");
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n",
            target.path
        );
        if let Some(token) = target.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .unwrap_or_else(|error| panic!("GET {}: {error}", target.path));
        let mut reader = Reader::new(stream);
        let body = reader.head(&target.path).await;
        let seen = Arc::new(Seen::default());
        let noted = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut chunked = Chunked::default();
            let mut pending = Vec::new();
            chunked.decode(&body, &mut pending);
            let now = (Instant::now(), SystemTime::now());
            noted.take_frames(&mut pending, now, key);
            let why = loop {
                let (bytes, receipt) = match reader.receive().await {
                    Ok(read) => read,
                    Err(error) => break format!("a read failed: {error}"),
                };
                if bytes.is_empty() {
                    break "the connection closed".to_owned();
                }
                let arrival = Instant::now();
                let ended = chunked.decode(bytes, &mut pending);
                noted.take_frames(&mut pending, (arrival, receipt), key);
                if ended {
                    break "the body ended".to_owned();
                }
            };
            *noted.ended.lock().expect("not poisoned") = Some(why);
        });
        Self { seen, task }
    }

    /// Events received so far.
    pub(crate) fn events(&self) -> u64 {
        self.seen.events.load(Ordering::Acquire)
    }

    /// The key of the newest event received (0 before any).
    pub(crate) fn last_id(&self) -> u64 {
        self.seen.last_id.load(Ordering::Acquire)
    }

    /// Why the stream's reader stopped, if it has.
    pub(crate) fn ended(&self) -> Option<String> {
        let said = self.seen.ended.lock().expect("not poisoned").clone();
        said.or_else(|| {
            self.task
                .is_finished()
                .then(|| "the reader panicked".to_owned())
        })
    }

    /// Notes each event's arrival from now on (or stops noting).
    pub(crate) fn record(&self, on: bool) {
        self.seen.recording.store(on, Ordering::Release);
    }

    /// The arrivals noted so far (when the reader read each event), emptied.
    pub(crate) fn take_arrivals(&self) -> Vec<(u64, Instant)> {
        std::mem::take(&mut *self.seen.arrivals.lock().expect("not poisoned"))
    }

    /// The receipts noted so far (when the kernel received each event's bytes), emptied.
    pub(crate) fn take_receipts(&self) -> Vec<(u64, SystemTime)> {
        std::mem::take(&mut *self.seen.receipts.lock().expect("not poisoned"))
    }
}

impl Seen {
    /// Takes every complete frame off the front of `pending`, counting those with a key.
    fn take_frames(
        &self,
        pending: &mut Vec<u8>,
        (arrival, receipt): (Instant, SystemTime),
        key: fn(&[u8]) -> Option<u64>,
    ) {
        let mut start = 0;
        while let Some(end) = find_blank_line(&pending[start..]) {
            let frame = &pending[start..start + end];
            if let Some(id) = key(frame) {
                if self.recording.load(Ordering::Acquire) {
                    self.arrivals
                        .lock()
                        .expect("not poisoned")
                        .push((id, arrival));
                    self.receipts
                        .lock()
                        .expect("not poisoned")
                        .push((id, receipt));
                }
                self.last_id.store(id, Ordering::Release);
                self.events.fetch_add(1, Ordering::AcqRel);
            }
            start += end + 2;
        }
        pending.drain(..start);
    }
}

/// How long every subscriber may take to reach an event before it counts as a hang.
const DELIVERY_LIMIT: Duration = Duration::from_secs(30);

/// Waits until every one of `subscribers` has received the event `id`.
pub(crate) async fn wait_all(subscribers: &[Subscriber], id: u64) {
    let started = Instant::now();
    while subscribers
        .iter()
        .any(|subscriber| subscriber.last_id() < id)
    {
        if started.elapsed() >= DELIVERY_LIMIT {
            let behind: Vec<&Subscriber> =
                subscribers.iter().filter(|s| s.last_id() < id).collect();
            let first: Vec<(u64, u64, Option<String>)> = behind
                .iter()
                .take(10)
                .map(|s| (s.last_id(), s.events(), s.ended()))
                .collect();
            panic!(
                "{} of {} subscribers never got event {id} (last id, events and end of the first \
                 ten: {first:?})",
                behind.len(),
                subscribers.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Where the first `\n\n` of `bytes` starts.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|pair| pair == b"\n\n")
}

/// The value of a frame's `id:` line.
fn frame_id(frame: &[u8]) -> Option<u64> {
    frame.split(|&byte| byte == b'\n').find_map(|line| {
        let value = line.strip_prefix(b"id:")?;
        std::str::from_utf8(value).ok()?.trim().parse().ok()
    })
}

/// The socket of one stream, read with `recvmsg` for the kernel's receive time.
struct Reader {
    stream: TcpStream,
    buffer: Vec<u8>,
    control: Vec<u8>,
}

impl Reader {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buffer: vec![0; 64 * 1024],
            control: nix::cmsg_space!(TimeSpec),
        }
    }

    /// Reads the response head, which must be `200` with a chunked body; answers the bytes
    /// after it.
    async fn head(&mut self, path: &str) -> Vec<u8> {
        let mut read = Vec::new();
        loop {
            let (bytes, _) = self
                .receive()
                .await
                .unwrap_or_else(|error| panic!("GET {path}: {error}"));
            assert!(!bytes.is_empty(), "GET {path}: closed before its head");
            read.extend_from_slice(bytes);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response
                .parse(&read)
                .unwrap_or_else(|error| panic!("GET {path}: a bad head ({error})"));
            let httparse::Status::Complete(length) = parsed else {
                continue;
            };
            assert_eq!(response.code, Some(200), "GET {path}");
            let chunked = response.headers.iter().any(|header| {
                header.name.eq_ignore_ascii_case("transfer-encoding")
                    && header.value.eq_ignore_ascii_case(b"chunked")
            });
            assert!(chunked, "GET {path}: the stream is not chunked");
            return read.split_off(length);
        }
    }

    /// The next bytes (empty at the end of the stream) and when the kernel received them.
    async fn receive(&mut self) -> io::Result<(&[u8], SystemTime)> {
        loop {
            self.stream.readable().await?;
            let fd = self.stream.as_raw_fd();
            let (buffer, control) = (&mut self.buffer, &mut self.control);
            let read = self.stream.try_io(Interest::READABLE, || {
                let mut slices = [IoSliceMut::new(buffer)];
                let message =
                    recvmsg::<()>(fd, &mut slices, Some(&mut *control), MsgFlags::empty())?;
                let stamp = message.cmsgs()?.find_map(|cmsg| match cmsg {
                    ControlMessageOwned::ScmTimestampns(stamp) => Some(stamp),
                    _ => None,
                });
                Ok((message.bytes, stamp))
            });
            match read {
                Ok((length, stamp)) => {
                    let receipt = stamp.map_or_else(SystemTime::now, |stamp| {
                        SystemTime::UNIX_EPOCH
                            + Duration::new(stamp.tv_sec() as u64, stamp.tv_nsec() as u32)
                    });
                    return Ok((&self.buffer[..length], receipt));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
    }
}

/// A chunked body's decoder.
#[derive(Default)]
struct Chunked {
    /// Bytes read and not yet decoded.
    raw: Vec<u8>,
    /// Data bytes left in the current chunk.
    remaining: u64,
    /// Whether the current chunk's closing CRLF is still to come.
    closing: bool,
}

impl Chunked {
    /// Decodes what `read` completes into `out`; answers whether the body ended (its last
    /// chunk, or the connection's end). The bytes decoded leave `raw` in one move at the end,
    /// so that a read of many small chunks costs what its length does.
    fn decode(&mut self, read: &[u8], out: &mut Vec<u8>) -> bool {
        self.raw.extend_from_slice(read);
        let mut at = 0;
        let ended = loop {
            let rest = &self.raw[at..];
            if self.remaining > 0 {
                let take = rest.len().min(self.remaining as usize);
                out.extend_from_slice(&rest[..take]);
                at += take;
                self.remaining -= take as u64;
                if self.remaining > 0 {
                    break false;
                }
            } else if self.closing {
                if rest.len() < 2 {
                    break false;
                }
                at += 2;
                self.closing = false;
            } else {
                match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((length, 0))) => {
                        at += length;
                        break true;
                    }
                    Ok(httparse::Status::Complete((length, size))) => {
                        at += length;
                        self.remaining = size;
                        self.closing = true;
                    }
                    Ok(httparse::Status::Partial) => break false,
                    Err(_) => panic!("the stream's chunked body is malformed"),
                }
            }
        };
        self.raw.drain(..at);
        ended
    }
}
