//! The audit log writer: one thread owns the files and the chain head.
//!
//! Callers hand it an event and wait: the thread appends every event queued
//! meanwhile as one batch, `fdatasync`s, and only then answers them all
//! (group commit), so an event is on disk before the response that depends
//! on it is sent, at one sync per batch rather than per event. If the write
//! fails, the file is cut back to where the batch began and every caller in
//! it gets the error (its request fails rather than go unaudited).
//!
//! The thread also signs: a digest record after `sign_every_events` events,
//! after `sign_interval_seconds` with unsigned events, at rotation (so every
//! closed file ends with one), at shutdown, and at start if the previous run
//! died with an unsigned tail. Each digest's chain head is saved in the store,
//! so a log cut back behind it is noticed at the next start and by
//! `s3seal audit verify --config`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::chain::{self, ChainHead, ChainLink, LINK_FIELD};
use super::event::{AuditEvent, now_rfc3339};
use super::files::{self, FileTail};
use super::signer::{AuditSigner, SIGNING_ALGORITHM};
use super::{AuditError, DIGEST_EVENT_TYPE};
use crate::config::AuditConfig;
use crate::store::Store;

/// Most events written in one batch (one sync).
const MAX_BATCH: usize = 4096;

type Reply = oneshot::Sender<Result<(), AuditError>>;

enum Command {
    Append(Box<AuditEvent>, Reply),
    Close(Reply),
    /// Tests: stop like a crash (nothing signed), releasing the directory.
    #[cfg(test)]
    Crash,
}

/// The handle request handlers use; cheap to share.
pub struct AuditLog {
    commands: Sender<Command>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    dir: PathBuf,
}

impl AuditLog {
    /// Opens the log in `config.dir`, recovering from a crash or a cut-back
    /// log, and starts the writer thread.
    pub fn open(
        config: &AuditConfig,
        dir: PathBuf,
        store: Arc<Store>,
        signer: AuditSigner,
        (region, account_id): (&str, &str),
    ) -> Result<Self, AuditError> {
        let (writer, notices) = Writer::recover(config, dir.clone(), store, signer)?;
        let (commands, queue) = channel();
        let thread = std::thread::Builder::new()
            .name("s3seal-audit".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| AuditError::Io(format!("cannot start the audit writer: {e}")))?;
        let log = AuditLog {
            commands,
            thread: std::sync::Mutex::new(Some(thread)),
            dir,
        };
        for mut notice in notices {
            notice.aws_region = region.to_string();
            notice.recipient_account_id = account_id.to_string();
            log.record_blocking(notice)?;
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tests: the writer stops as in a crash (no closing digest).
    #[cfg(test)]
    pub fn crash(self) {
        let _ = self.commands.send(Command::Crash);
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }

    /// Appends `event`; returns once it is on disk.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        let (reply, done) = oneshot::channel();
        self.commands
            .send(Command::Append(Box::new(event), reply))
            .map_err(|_| AuditError::Closed)?;
        done.await.map_err(|_| AuditError::Closed)?
    }

    /// [`record`](Self::record) for synchronous code: the offline tools,
    /// and start-up (which runs inside the runtime's `block_on`).
    pub fn record_blocking(&self, event: AuditEvent) -> Result<(), AuditError> {
        let (reply, done) = oneshot::channel();
        self.commands
            .send(Command::Append(Box::new(event), reply))
            .map_err(|_| AuditError::Closed)?;
        wait_blocking(done).map_err(|_| AuditError::Closed)?
    }

    /// Signs what is unsigned and stops the writer; later records fail.
    pub fn close(&self) -> Result<(), AuditError> {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Close(reply)).is_err() {
            return Ok(());
        }
        let outcome = wait_blocking(done).unwrap_or(Ok(()));
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
        outcome
    }
}

/// Waits for the writer's answer. Blocking is forbidden inside the async
/// runtime, except in `block_in_place` (multi-threaded runtimes only).
fn wait_blocking<T>(
    done: oneshot::Receiver<T>,
) -> Result<T, tokio::sync::oneshot::error::RecvError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| done.blocking_recv()),
        _ => done.blocking_recv(),
    }
}

struct Writer {
    dir: PathBuf,
    max_file_bytes: u64,
    max_file_age: Duration,
    sign_interval: Duration,
    sign_every_events: u64,
    /// Held (locked) while this writer owns the directory.
    _lock: File,
    store: Arc<Store>,
    /// The store setting this chain's signed head is saved in.
    chain_head_setting: String,
    signer: AuditSigner,
    file: File,
    file_len: u64,
    file_opened: Instant,
    head: ChainHead,
    /// The first sequence no digest covers yet (`None`: all signed).
    unsigned_from: Option<u64>,
    last_digest: Instant,
}

impl Writer {
    /// Finds the chain head left by the last run, signs a tail it left
    /// unsigned, and opens a fresh file. Returns notices (events) about
    /// anything found wrong.
    fn recover(
        config: &AuditConfig,
        dir: PathBuf,
        store: Arc<Store>,
        signer: AuditSigner,
    ) -> Result<(Writer, Vec<AuditEvent>), AuditError> {
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let lock = lock_dir(&dir)?;
        let mut notices = Vec::new();
        // The newest file with anything in it (a run that died at once
        // leaves an empty one).
        let last_file = files::log_files(&dir)
            .map_err(|e| io_error(&dir, e))?
            .into_iter()
            .rev()
            .find(|path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0));
        let (file_head, last_is_digest) = match &last_file {
            Some(path) => recover_file(path, &mut notices)?,
            None => (ChainHead::genesis(), true),
        };
        let chain_head_setting = config.chain_head_setting();
        let signed_head = read_signed_head(&store, &chain_head_setting)?;
        let head = match signed_head {
            Some(signed) if signed.sequence > file_head.sequence => {
                notices.push(truncation_notice(&signed, &file_head));
                signed
            }
            _ => file_head,
        };
        let (file, path) = open_log_file(&dir, head.sequence + 1)?;
        let mut writer = Writer {
            dir,
            max_file_bytes: config.max_file_bytes,
            max_file_age: Duration::from_secs(config.max_file_age_seconds),
            sign_interval: Duration::from_secs(config.sign_interval_seconds.max(1)),
            sign_every_events: config.sign_every_events.max(1),
            _lock: lock,
            store,
            chain_head_setting,
            signer,
            file,
            file_len: 0,
            file_opened: Instant::now(),
            head,
            unsigned_from: None,
            last_digest: Instant::now(),
        };
        if let (Some(previous), false) = (last_file, last_is_digest) {
            writer.sign_previous_file(&previous, path)?;
        }
        Ok((writer, notices))
    }

    /// Signs the unsigned tail a crashed run left in `previous`, there, then
    /// moves on to the new file at `current`.
    fn sign_previous_file(&mut self, previous: &Path, current: PathBuf) -> Result<(), AuditError> {
        let file = OpenOptions::new()
            .append(true)
            .open(previous)
            .map_err(|e| io_error(previous, e))?;
        let fresh = std::mem::replace(&mut self.file, file);
        self.file_len = std::fs::metadata(previous).map(|m| m.len()).unwrap_or(0);
        self.unsigned_from = Some(first_unsigned_sequence(previous)?.unwrap_or(self.head.sequence));
        self.write_digest("recovery")?;
        self.file = fresh;
        self.file_len = 0;
        tracing::info!(file = %current.display(), "audit log continues in a new file");
        Ok(())
    }

    fn run(mut self, queue: Receiver<Command>) {
        loop {
            let wait = self.until_digest_due();
            match queue.recv_timeout(wait) {
                Ok(Command::Append(event, reply)) => {
                    let mut batch = vec![(event, reply)];
                    let mut close = None;
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(Command::Append(event, reply)) => batch.push((event, reply)),
                            Ok(Command::Close(reply)) => {
                                close = Some(reply);
                                break;
                            }
                            #[cfg(test)]
                            Ok(Command::Crash) => return,
                            Err(_) => break,
                        }
                    }
                    self.append_batch(batch);
                    if let Some(reply) = close {
                        let _ = reply.send(self.shut_down());
                        return;
                    }
                }
                Ok(Command::Close(reply)) => {
                    let _ = reply.send(self.shut_down());
                    return;
                }
                #[cfg(test)]
                Ok(Command::Crash) => return,
                Err(RecvTimeoutError::Timeout) => self.sign_if_due(),
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.shut_down();
                    return;
                }
            }
        }
    }

    fn until_digest_due(&self) -> Duration {
        match self.unsigned_from {
            Some(_) => self
                .sign_interval
                .saturating_sub(self.last_digest.elapsed()),
            // Nothing to sign: wake up now and then anyway (cheap).
            None => self.sign_interval,
        }
    }

    fn sign_if_due(&mut self) {
        if self.unsigned_from.is_some()
            && self.last_digest.elapsed() >= self.sign_interval
            && let Err(err) = self.write_digest("interval")
        {
            tracing::error!(error = %err, "cannot sign the audit log");
        }
    }

    fn shut_down(&mut self) -> Result<(), AuditError> {
        if self.unsigned_from.is_some() {
            self.write_digest("shutdown")?;
        }
        Ok(())
    }

    fn append_batch(&mut self, batch: Vec<(Box<AuditEvent>, Reply)>) {
        if let Err(err) = self.rotate_if_due() {
            tracing::error!(error = %err, "cannot rotate the audit log");
        }
        let (events, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let lines: Result<Vec<Value>, AuditError> = events
            .into_iter()
            .map(|event| serde_json::to_value(*event).map_err(|e| AuditError::Io(e.to_string())))
            .collect();
        let outcome = lines.and_then(|records| self.append_records(records));
        if let Err(err) = &outcome {
            tracing::error!(error = %err, "cannot write to the audit log");
        }
        for reply in replies {
            let _ = reply.send(outcome.clone());
        }
        if self.events_since_digest() >= self.sign_every_events
            && let Err(err) = self.write_digest("count")
        {
            tracing::error!(error = %err, "cannot sign the audit log");
        }
    }

    fn events_since_digest(&self) -> u64 {
        self.unsigned_from
            .map_or(0, |first| self.head.sequence + 1 - first)
    }

    /// Links, writes and syncs `records`; on failure the file and the head
    /// are as before.
    fn append_records(&mut self, records: Vec<Value>) -> Result<(), AuditError> {
        let mut head = self.head.clone();
        let mut buffer = Vec::new();
        for mut record in records {
            let link = head.next_link();
            let line = linked_line(&mut record, &link)?;
            head = ChainHead::after(&link, &line);
            buffer.extend_from_slice(&line);
            buffer.push(b'\n');
        }
        let written = self
            .file
            .write_all(&buffer)
            .and_then(|()| self.file.sync_data());
        if let Err(err) = written {
            // Cut back a partly written batch so the chain stays whole.
            let _ = self.file.set_len(self.file_len);
            return Err(AuditError::Io(format!("audit log write failed: {err}")));
        }
        let first = self.head.sequence + 1;
        self.file_len += buffer.len() as u64;
        self.head = head;
        self.unsigned_from.get_or_insert(first);
        Ok(())
    }

    /// Appends a signed digest of everything so far and records its head in
    /// the store.
    fn write_digest(&mut self, reason: &str) -> Result<(), AuditError> {
        let Some(first_sequence) = self.unsigned_from else {
            return Ok(());
        };
        let link = self.head.next_link();
        let event_time = now_rfc3339();
        let message = chain::digest_message(&link, first_sequence, &event_time);
        let signature = self.signer.sign(&message)?;
        let record = json!({
            "eventVersion": "1.08",
            "eventType": DIGEST_EVENT_TYPE,
            "eventTime": event_time,
            "digest": {
                "reason": reason,
                "firstSequence": first_sequence,
                "lastSequence": self.head.sequence,
                "lastRecordHash": self.head.hash,
                "signingKeyId": self.signer.key_arn(),
                "signingAlgorithm": SIGNING_ALGORITHM,
                "signature": base64::engine::general_purpose::STANDARD.encode(signature),
            },
        });
        self.append_records(vec![record])?;
        self.unsigned_from = None;
        self.last_digest = Instant::now();
        let head = serde_json::to_string(&self.head).map_err(|e| AuditError::Io(e.to_string()))?;
        self.store
            .put_setting(&self.chain_head_setting, &head)
            .map_err(|e| AuditError::Io(format!("cannot save the audit chain head: {e}")))
    }

    fn rotate_if_due(&mut self) -> Result<(), AuditError> {
        let full = self.file_len >= self.max_file_bytes;
        let old = self.file_opened.elapsed() >= self.max_file_age && self.file_len > 0;
        if !(full || old) {
            return Ok(());
        }
        self.write_digest("rotation")?;
        let (file, _) = open_log_file(&self.dir, self.head.sequence + 1)?;
        self.file = file;
        self.file_len = 0;
        self.file_opened = Instant::now();
        Ok(())
    }
}

/// `record` with its chain link, serialized as one line.
pub(crate) fn linked_line(record: &mut Value, link: &ChainLink) -> Result<Vec<u8>, AuditError> {
    let object = record
        .as_object_mut()
        .ok_or_else(|| AuditError::Io("an audit record must be a JSON object".into()))?;
    object.insert(
        LINK_FIELD.into(),
        serde_json::to_value(link).map_err(|e| AuditError::Io(e.to_string()))?,
    );
    serde_json::to_vec(record).map_err(|e| AuditError::Io(e.to_string()))
}

/// The chain head at the end of `path` and whether the file ends with a
/// digest. A partial last line (a crash mid-write: never acknowledged) is cut
/// off, with a notice.
fn recover_file(
    path: &Path,
    notices: &mut Vec<AuditEvent>,
) -> Result<(ChainHead, bool), AuditError> {
    let FileTail {
        last_line,
        complete_len,
        partial_len,
    } = files::read_tail(path).map_err(|e| io_error(path, e))?;
    if partial_len > 0 {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        file.set_len(complete_len)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(path, e))?;
        tracing::warn!(file = %path.display(), bytes = partial_len, "cut an unfinished audit record left by a crash");
        notices.push(
            AuditEvent::service_event("AuditLogRecovered", "", "").with_parameters(json!({
                "file": path.display().to_string(),
                "discardedBytes": partial_len,
            })),
        );
    }
    let Some(line) = last_line else {
        return Ok((ChainHead::genesis(), true));
    };
    let record: Value = serde_json::from_slice(&line).map_err(|e| {
        AuditError::Corrupt(format!(
            "the last record of {} is not JSON ({e}); run `s3seal audit verify`",
            path.display()
        ))
    })?;
    let link: ChainLink = record
        .get(LINK_FIELD)
        .cloned()
        .and_then(|l| serde_json::from_value(l).ok())
        .ok_or_else(|| {
            AuditError::Corrupt(format!(
                "the last record of {} has no {LINK_FIELD}; run `s3seal audit verify`",
                path.display()
            ))
        })?;
    let is_digest = record.get("eventType").and_then(Value::as_str) == Some(DIGEST_EVENT_TYPE);
    Ok((ChainHead::after(&link, &line), is_digest))
}

/// The first sequence after the last digest of `path` (or its first record's).
fn first_unsigned_sequence(path: &Path) -> Result<Option<u64>, AuditError> {
    let (lines, _) = files::read_lines(path).map_err(|e| io_error(path, e))?;
    let mut first = None;
    for line in &lines {
        let Ok(record) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let sequence = record[LINK_FIELD]["sequence"].as_u64();
        if record["eventType"].as_str() == Some(DIGEST_EVENT_TYPE) {
            first = sequence.map(|s| s + 1);
        } else if first.is_none() {
            first = sequence;
        }
    }
    Ok(first)
}

pub fn read_signed_head(store: &Store, setting: &str) -> Result<Option<ChainHead>, AuditError> {
    store
        .get_setting(setting)
        .map_err(|e| AuditError::Io(e.to_string()))?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| AuditError::Corrupt(format!("{setting}: {e}")))
        })
        .transpose()
}

fn truncation_notice(signed: &ChainHead, found: &ChainHead) -> AuditEvent {
    tracing::error!(
        signed_sequence = signed.sequence,
        found_sequence = found.sequence,
        "the audit log ends before the last signed record: it was cut back; the chain continues from the signed head"
    );
    AuditEvent::service_event("AuditLogTruncationDetected", "", "").with_parameters(json!({
        "lastSignedSequence": signed.sequence,
        "lastSequenceFound": found.sequence,
    }))
}

fn open_log_file(dir: &Path, first_sequence: u64) -> Result<(File, PathBuf), AuditError> {
    let path = dir.join(files::file_name(first_sequence));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    // The new name must survive a crash too.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))?;
    Ok((file, path))
}

/// One writer per directory: a second process writing there (another
/// instance, or an offline command while s3seal runs on a shared store)
/// would interleave two chains. The lock goes with the process.
fn lock_dir(dir: &Path) -> Result<File, AuditError> {
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(AuditError::Io(format!(
            "the audit log {} is in use by another s3seal process: each instance needs its own audit.dir, and offline commands write there only while no instance does",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(err)) => Err(io_error(&path, err)),
    }
}

fn io_error(path: &Path, err: std::io::Error) -> AuditError {
    AuditError::Io(format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests;
