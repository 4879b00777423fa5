//! What the Backend knows of one runtime for the workspace feed: its status and the state of
//! each of its Workers, each state rendered once as the SSE frame that every browser is sent.
//! Pure bookkeeping: the upstream task feeds it what the runtime said, and every change it makes
//! is appended, as frames, to a buffer that the hub broadcasts.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use axum::body::Bytes;
use bytes::BytesMut;
use serde::Serialize;
use yoi_registry_core::{
    ErrorCode, RegistryError, RuntimeDescriptor, RuntimeId, RuntimeKind, RuntimeStatus, Timestamp,
    Usage, WorkerId, WorkerSnapshot, WorkerState, WorkerView,
};

use crate::error::public_message;
use crate::events::frame::render;
use crate::lifetime::removed_message;

/// The `event:` of a runtime's status.
pub(crate) const RUNTIME_STATUS_EVENT: &str = "runtime_status";

/// The `event:` of a Worker's state.
pub(crate) const WORKER_STATUS_EVENT: &str = "worker_status";

/// The `event:` of a Worker the runtime no longer has (it restarted without its data).
pub(crate) const WORKER_REMOVED_EVENT: &str = "worker_removed";

/// The frame that ends the picture: every state has been sent; changes follow. Feed frames
/// carry no `id:`: the feed is a picture, not a log, and a reconnecting client is sent it all.
pub(crate) const SYNCED_FRAME: &[u8] = b"event: synced\ndata: {}\n\n";

/// A Worker's state as the workspace feed tells it, from a runtime's feed or, for a runtime
/// without one, from its listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeedWorker {
    pub(crate) worker_id: WorkerId,
    pub(crate) status: WorkerState,
    pub(crate) profile: Option<String>,
    pub(crate) display_name: Option<String>,
    /// Of two states of a Worker, the one with the higher is the newer; `None` for a store
    /// without events.
    pub(crate) last_sequence: Option<u64>,
    pub(crate) at: Option<Timestamp>,
    pub(crate) usage: Option<Usage>,
}

impl From<WorkerSnapshot> for FeedWorker {
    fn from(snapshot: WorkerSnapshot) -> Self {
        Self {
            worker_id: snapshot.worker_id,
            status: snapshot.status.into(),
            profile: Some(snapshot.profile),
            display_name: snapshot.display_name,
            last_sequence: Some(snapshot.last_sequence),
            at: Some(snapshot.at),
            usage: snapshot.usage,
        }
    }
}

impl From<WorkerView> for FeedWorker {
    fn from(view: WorkerView) -> Self {
        Self {
            worker_id: view.worker_id,
            status: view.status,
            profile: view.profile,
            display_name: view.display_name,
            last_sequence: view.last_sequence,
            at: view.updated_at,
            usage: view.usage,
        }
    }
}

/// `data:` of a `worker_status` frame.
#[derive(Serialize)]
struct WorkerData<'a> {
    runtime_id: &'a RuntimeId,
    worker_id: &'a WorkerId,
    status: WorkerState,
    profile: &'a Option<String>,
    display_name: &'a Option<String>,
    last_sequence: Option<u64>,
    at: &'a Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: &'a Option<Usage>,
    display_ref: String,
}

/// `data:` of a `runtime_status` frame.
#[derive(Serialize)]
struct RuntimeData<'a> {
    runtime_id: &'a RuntimeId,
    kind: RuntimeKind,
    status: RuntimeStatus,
    last_seen_at: Option<Timestamp>,
    read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<ErrorCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

/// `data:` of the `runtime_status` frame of a runtime that left the workspace.
#[derive(Serialize)]
struct RemovedRuntimeData<'a> {
    runtime_id: &'a RuntimeId,
    status: &'static str,
    message: String,
}

/// `data:` of a `worker_removed` frame.
#[derive(Serialize)]
struct RemovedData<'a> {
    runtime_id: &'a RuntimeId,
    worker_id: &'a WorkerId,
}

/// A Worker's state with its rendered frame.
struct Held {
    state: FeedWorker,
    frame: Bytes,
}

/// Why a runtime is unavailable, as browsers are told.
struct Outage {
    code: Option<ErrorCode>,
    message: String,
}

impl Outage {
    /// Before the runtime's first answer (a browser is told so only once the wait for it is
    /// over).
    fn waiting(runtime_id: &RuntimeId) -> Self {
        Self {
            code: Some(ErrorCode::RuntimeTimeout),
            message: format!("runtime {runtime_id} has not answered yet"),
        }
    }
}

/// One runtime's part of the workspace feed.
pub(crate) struct RuntimePicture {
    runtime_id: RuntimeId,
    kind: RuntimeKind,
    read_only: bool,
    /// `None` while it answers.
    outage: Option<Outage>,
    last_seen_at: Option<Timestamp>,
    /// It gave its whole picture, or is known to be unavailable: a browser may be answered.
    known: bool,
    workers: BTreeMap<WorkerId, Held>,
    /// The Workers heard of since a whole picture began: when it is complete, the others are
    /// gone.
    seen: HashSet<WorkerId>,
    /// A whole picture is coming: its states replace those held, whatever their sequence.
    resyncing: bool,
    /// The Workers' frames joined into chunks of about [`PICTURE_CHUNK`], shared by every
    /// browser that joins until a Worker's state changes.
    chunks: Option<Arc<[Bytes]>>,
}

/// The size the chunks of a picture grow to: a large picture costs a few writes, and its
/// memory is shared by the browsers that join while it holds.
const PICTURE_CHUNK: usize = 16 * 1024;

impl RuntimePicture {
    /// The picture of `descriptor`'s runtime before it said anything.
    pub(crate) fn new(descriptor: &RuntimeDescriptor) -> Self {
        Self {
            runtime_id: descriptor.id.clone(),
            kind: descriptor.kind,
            read_only: descriptor.policy.read_only,
            outage: Some(Outage::waiting(&descriptor.id)),
            last_seen_at: None,
            known: false,
            workers: BTreeMap::new(),
            seen: HashSet::new(),
            resyncing: false,
            chunks: None,
        }
    }

    /// Whether a browser may be answered from it.
    pub(crate) fn is_known(&self) -> bool {
        self.known
    }

    /// Forgets the Workers and the status, as when nobody watches and the runtime is no longer
    /// followed; when it last answered is still known.
    pub(crate) fn clear(&mut self) {
        self.outage = Some(Outage::waiting(&self.runtime_id));
        self.known = false;
        self.workers.clear();
        self.seen.clear();
        self.resyncing = false;
        self.chunks = None;
    }

    /// The runtime is served by a new handle (a reload changed its table): its kind and policy
    /// are taken from `descriptor` (a change of them is appended to `changes`), and the new
    /// handle's first picture replaces the Workers held.
    pub(crate) fn reconfigure(&mut self, descriptor: &RuntimeDescriptor, changes: &mut BytesMut) {
        let (kind, read_only) = (descriptor.kind, descriptor.policy.read_only);
        if (kind, read_only) != (self.kind, self.read_only) {
            (self.kind, self.read_only) = (kind, read_only);
            changes.extend_from_slice(&self.render_status());
        }
        self.resync();
    }

    /// The frame that tells browsers the runtime left the workspace (a reload removed it, or
    /// made it hidden): `runtime_status` with `status: "removed"`.
    pub(crate) fn removed_frame(&self) -> Bytes {
        let data = RemovedRuntimeData {
            runtime_id: &self.runtime_id,
            status: "removed",
            message: removed_message(&self.runtime_id),
        };
        render(RUNTIME_STATUS_EVENT, &data)
    }

    /// A whole picture begins (a new connection to the runtime, a new listing).
    pub(crate) fn resync(&mut self) {
        self.seen.clear();
        self.resyncing = true;
    }

    /// Records `state` when it is new: a Worker not held, a higher `last_sequence`, or (in a
    /// whole picture, for a store without sequences, or at the same sequence) a different
    /// state. Appends its frame to `changes` when it is.
    pub(crate) fn apply(&mut self, state: FeedWorker, changes: &mut BytesMut) {
        self.last_seen_at = Some(Timestamp::now());
        if self.resyncing {
            self.seen.insert(state.worker_id.clone());
        }
        if let Some(held) = self.workers.get(&state.worker_id) {
            let older = match (state.last_sequence, held.state.last_sequence) {
                (Some(new), Some(old)) => new < old && !self.resyncing,
                _ => false,
            };
            if older || held.state == state {
                return;
            }
        }
        let frame = self.render_worker(&state);
        changes.extend_from_slice(&frame);
        self.chunks = None;
        self.workers
            .insert(state.worker_id.clone(), Held { state, frame });
    }

    /// The runtime's picture is complete: after a whole picture, Workers not in it are gone;
    /// the runtime answers.
    pub(crate) fn synced(&mut self, changes: &mut BytesMut) {
        self.last_seen_at = Some(Timestamp::now());
        let seen = std::mem::take(&mut self.seen);
        let gone: Vec<WorkerId> = match std::mem::take(&mut self.resyncing) {
            true => self
                .workers
                .keys()
                .filter(|worker| !seen.contains(*worker))
                .cloned()
                .collect(),
            false => Vec::new(),
        };
        for worker_id in gone {
            self.workers.remove(&worker_id);
            self.chunks = None;
            let data = RemovedData {
                runtime_id: &self.runtime_id,
                worker_id: &worker_id,
            };
            changes.extend_from_slice(&render(WORKER_REMOVED_EVENT, &data));
        }
        self.known = true;
        if self.outage.take().is_some() {
            changes.extend_from_slice(&self.render_status());
        }
    }

    /// The runtime cannot be reached: says so, unless it already said the same; answers
    /// whether it did.
    pub(crate) fn lost(&mut self, error: &RegistryError, changes: &mut BytesMut) -> bool {
        let message = public_message(error).unwrap_or_else(|| error.message.clone());
        self.known = true;
        let same = self
            .outage
            .as_ref()
            .is_some_and(|outage| outage.code == Some(error.code) && outage.message == message);
        if same {
            return false;
        }
        self.outage = Some(Outage {
            code: Some(error.code),
            message,
        });
        changes.extend_from_slice(&self.render_status());
        true
    }

    /// The whole picture: the runtime's status (as of now), then every Worker's state, in
    /// chunks shared with every browser that joins before the next change.
    pub(crate) fn frames(&mut self, out: &mut VecDeque<Bytes>) {
        out.push_back(self.render_status());
        let chunks = self.chunks.get_or_insert_with(|| {
            let mut chunks = Vec::new();
            let mut chunk = BytesMut::new();
            for held in self.workers.values() {
                if chunk.len() + held.frame.len() > PICTURE_CHUNK && !chunk.is_empty() {
                    chunks.push(chunk.split().freeze());
                }
                chunk.extend_from_slice(&held.frame);
            }
            if !chunk.is_empty() {
                chunks.push(chunk.freeze());
            }
            chunks.into()
        });
        out.extend(chunks.iter().cloned());
    }

    fn render_status(&self) -> Bytes {
        let data = RuntimeData {
            runtime_id: &self.runtime_id,
            kind: self.kind,
            status: match self.outage {
                Some(_) => RuntimeStatus::Unavailable,
                None => RuntimeStatus::Available,
            },
            last_seen_at: self.last_seen_at,
            read_only: self.read_only,
            code: self.outage.as_ref().and_then(|outage| outage.code),
            message: self.outage.as_ref().map(|outage| outage.message.as_str()),
        };
        render(RUNTIME_STATUS_EVENT, &data)
    }

    fn render_worker(&self, state: &FeedWorker) -> Bytes {
        let name = state
            .display_name
            .as_deref()
            .unwrap_or(state.worker_id.as_str());
        let data = WorkerData {
            runtime_id: &self.runtime_id,
            worker_id: &state.worker_id,
            status: state.status,
            profile: &state.profile,
            display_name: &state.display_name,
            last_sequence: state.last_sequence,
            at: &state.at,
            usage: &state.usage,
            display_ref: format!("{name}@{}", self.runtime_id),
        };
        render(WORKER_STATUS_EVENT, &data)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::BytesMut;
    use yoi_registry_core::{
        ErrorCode, Policy, RegistryError, RuntimeDescriptor, RuntimeId, RuntimeKind, WorkerId,
        WorkerState,
    };

    use super::{FeedWorker, RuntimePicture};

    fn picture() -> RuntimePicture {
        RuntimePicture::new(&RuntimeDescriptor {
            id: RuntimeId::new("gpu").unwrap(),
            display_name: "GPU".into(),
            kind: RuntimeKind::RemoteHttp,
            policy: Policy::default(),
            timeout: Duration::from_secs(1),
        })
    }

    fn state(worker: &str, status: WorkerState, sequence: u64) -> FeedWorker {
        FeedWorker {
            worker_id: WorkerId::new(worker).unwrap(),
            status,
            profile: Some("default".into()),
            display_name: None,
            last_sequence: Some(sequence),
            at: None,
            usage: None,
        }
    }

    /// What one change to `picture` renders.
    fn changes(
        picture: &mut RuntimePicture,
        change: impl FnOnce(&mut RuntimePicture, &mut BytesMut),
    ) -> String {
        let mut frames = BytesMut::new();
        change(picture, &mut frames);
        String::from_utf8(frames.to_vec()).unwrap()
    }

    #[test]
    fn an_older_or_repeated_state_changes_nothing() {
        let mut picture = picture();
        let newer = changes(&mut picture, |p, c| {
            p.apply(state("w1", WorkerState::Running, 5), c)
        });
        assert!(newer.contains(r#""status":"running""#), "{newer}");
        assert!(newer.contains(r#""display_ref":"w1@gpu""#), "{newer}");
        let older = changes(&mut picture, |p, c| {
            p.apply(state("w1", WorkerState::Idle, 3), c)
        });
        assert_eq!(older, "");
        let repeated = changes(&mut picture, |p, c| {
            p.apply(state("w1", WorkerState::Running, 5), c)
        });
        assert_eq!(repeated, "");
        let mut all = std::collections::VecDeque::new();
        picture.frames(&mut all);
        let all: Vec<u8> = all.into_iter().flatten().collect();
        let all = String::from_utf8(all).unwrap();
        assert!(
            all.contains(r#""status":"running""#) && !all.contains(r#""status":"idle""#),
            "{all}"
        );
    }

    #[test]
    fn a_complete_picture_makes_the_runtime_known_and_drops_workers_it_no_longer_has() {
        let mut picture = picture();
        assert!(!picture.is_known());
        changes(&mut picture, |p, c| {
            p.resync();
            p.apply(state("w1", WorkerState::Idle, 1), c);
            p.apply(state("w2", WorkerState::Idle, 1), c);
        });
        let first = changes(&mut picture, RuntimePicture::synced);
        assert!(picture.is_known());
        assert!(first.contains(r#""status":"available""#), "{first}");
        // A live change, then a whole picture without that Worker: it is gone.
        changes(&mut picture, |p, c| {
            p.apply(state("w1", WorkerState::Running, 2), c)
        });
        changes(&mut picture, |p, c| {
            p.resync();
            p.apply(state("w2", WorkerState::Idle, 1), c);
        });
        let second = changes(&mut picture, RuntimePicture::synced);
        assert_eq!(
            second,
            "event: worker_removed\ndata: {\"runtime_id\":\"gpu\",\"worker_id\":\"w1\"}\n\n"
        );
        // A picture sent again without a new connection (a subscriber that fell behind) is
        // not whole in that sense: nothing is removed.
        assert_eq!(changes(&mut picture, RuntimePicture::synced), "");
    }

    #[test]
    fn a_whole_picture_replaces_a_state_whatever_its_sequence() {
        let mut picture = picture();
        changes(&mut picture, |p, c| {
            p.apply(state("w1", WorkerState::Stopped, 9), c)
        });
        // Restarted without its data: `w1` is new, its events numbered from 1.
        let renewed = changes(&mut picture, |p, c| {
            p.resync();
            p.apply(state("w1", WorkerState::Idle, 1), c);
        });
        assert!(renewed.contains(r#""last_sequence":1"#), "{renewed}");
        changes(&mut picture, RuntimePicture::synced);
        let live = changes(&mut picture, |p, c| {
            p.apply(state("w1", WorkerState::Running, 2), c)
        });
        assert!(live.contains(r#""status":"running""#), "{live}");
    }

    #[test]
    fn a_loss_is_told_once_and_the_return_once() {
        let mut picture = picture();
        changes(&mut picture, RuntimePicture::synced);
        let error = RegistryError::new(ErrorCode::RuntimeUnavailable, "down")
            .for_runtime(&RuntimeId::new("gpu").unwrap());
        let lost = changes(&mut picture, |p, c| assert!(p.lost(&error, c)));
        assert!(lost.contains(r#""status":"unavailable""#), "{lost}");
        assert!(lost.contains(r#""code":"runtime_unavailable""#), "{lost}");
        assert_eq!(
            changes(&mut picture, |p, c| assert!(!p.lost(&error, c))),
            ""
        );
        let back = changes(&mut picture, RuntimePicture::synced);
        assert!(back.contains(r#""status":"available""#), "{back}");
        assert_eq!(changes(&mut picture, RuntimePicture::synced), "");
    }
}
