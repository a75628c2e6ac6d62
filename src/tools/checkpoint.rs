//! Resuming: the highest key such that every key listed up to it has
//! finished, kept in a small JSON file.
//!
//! Objects finish out of order under concurrency, so the resume point only
//! advances over a contiguous run of finished keys (in listing order, which
//! is key order). A key that failed or changed is never passed: a re-run
//! starts at or before it and retries it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ToolError;
use super::target::S3Url;

/// What the checkpoint file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub command: String,
    pub bucket: String,
    pub prefix: String,
    /// Every key up to and including this one is done.
    pub done_through: String,
}

/// The resume point of a run, from objects finishing in any order.
#[derive(Debug, Default)]
pub struct ResumePoint {
    /// The listing position of the next object that must finish for the point to move.
    next: u64,
    /// Finished objects past `next`: their key, and whether they are done for good.
    finished: BTreeMap<u64, (String, bool)>,
    /// The key below which everything is done.
    done_through: Option<String>,
    /// An object at this position failed: the point never moves past it.
    blocked: bool,
}

impl ResumePoint {
    /// Records that the object at listing position `seq` finished; returns
    /// whether the resume point moved.
    pub fn finished(&mut self, seq: u64, key: &str, done: bool) -> bool {
        if self.blocked {
            // Nothing past the failure can count any more: keep no memory of it.
            return false;
        }
        self.finished.insert(seq, (key.to_string(), done));
        let mut moved = false;
        while !self.blocked {
            let Some((key, done)) = self.finished.remove(&self.next) else {
                break;
            };
            if !done {
                self.blocked = true;
                self.finished.clear();
                break;
            }
            self.done_through = Some(key);
            self.next += 1;
            moved = true;
        }
        moved
    }

    pub fn done_through(&self) -> Option<&str> {
        self.done_through.as_deref()
    }
}

/// The checkpoint file of one run, written at most every `interval`.
pub struct CheckpointFile {
    path: PathBuf,
    command: &'static str,
    target: S3Url,
    last_write: Option<Instant>,
    interval: Duration,
}

impl CheckpointFile {
    pub fn new(path: PathBuf, command: &'static str, target: &S3Url) -> Self {
        CheckpointFile {
            path,
            command,
            target: target.clone(),
            last_write: None,
            interval: Duration::from_millis(200),
        }
    }

    /// The default path: `.s3seal-<command>-<bucket[-prefix]>.checkpoint` here.
    pub fn default_path(command: &str, target: &S3Url) -> PathBuf {
        PathBuf::from(format!(
            ".s3seal-{command}-{}.checkpoint",
            target.file_stem()
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key to resume after, if the file records a run of this command on this target.
    pub fn load(&self) -> Result<Option<String>, ToolError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.file_error(e)),
        };
        let saved: Checkpoint = serde_json::from_str(&text).map_err(|e| {
            ToolError::Usage(format!("{}: not a checkpoint ({e})", self.path.display()))
        })?;
        if saved.command != self.command
            || saved.bucket != self.target.bucket
            || saved.prefix != self.target.prefix
        {
            return Err(ToolError::Usage(format!(
                "{} is the checkpoint of `{} s3://{}/{}`; pass --restart to ignore it or --state for another file",
                self.path.display(),
                saved.command,
                saved.bucket,
                saved.prefix
            )));
        }
        Ok(Some(saved.done_through))
    }

    /// Writes `done_through` unless a write happened within the interval (or `force`).
    pub fn save(&mut self, done_through: &str, force: bool) -> Result<(), ToolError> {
        let recent = self.last_write.is_some_and(|t| t.elapsed() < self.interval);
        if recent && !force {
            return Ok(());
        }
        let checkpoint = Checkpoint {
            command: self.command.to_string(),
            bucket: self.target.bucket.clone(),
            prefix: self.target.prefix.clone(),
            done_through: done_through.to_string(),
        };
        let json = serde_json::to_string_pretty(&checkpoint)
            .map_err(|e| ToolError::Usage(e.to_string()))?;
        // Written aside and renamed, so a kill never leaves half a file.
        let partial = self.path.with_extension("partial");
        std::fs::write(&partial, json).map_err(|e| self.file_error(e))?;
        std::fs::rename(&partial, &self.path).map_err(|e| self.file_error(e))?;
        self.last_write = Some(Instant::now());
        Ok(())
    }

    /// Deletes the file once the whole target is done: the next run starts afresh.
    pub fn remove(&self) -> Result<(), ToolError> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.file_error(e)),
            _ => Ok(()),
        }
    }

    fn file_error(&self, source: std::io::Error) -> ToolError {
        ToolError::File {
            path: self.path.display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_over_contiguous_finished_keys_only() {
        let mut p = ResumePoint::default();
        assert!(!p.finished(2, "c", true));
        assert!(!p.finished(1, "b", true));
        assert_eq!(p.done_through(), None);
        assert!(p.finished(0, "a", true));
        assert_eq!(p.done_through(), Some("c"));
        assert!(!p.finished(4, "e", true));
        assert!(p.finished(3, "d", true));
        assert_eq!(p.done_through(), Some("e"));
    }

    #[test]
    fn never_passes_a_failed_key() {
        let mut p = ResumePoint::default();
        p.finished(0, "a", true);
        p.finished(2, "c", true);
        p.finished(1, "b", false);
        assert_eq!(p.done_through(), Some("a"));
        assert!(!p.finished(3, "d", true));
        assert_eq!(p.done_through(), Some("a"));
        assert!(p.finished.is_empty());
    }

    #[test]
    fn file_round_trips_and_refuses_another_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let target = S3Url::parse("s3://b/p").unwrap();
        let mut file = CheckpointFile::new(path.clone(), "migrate", &target);
        assert_eq!(file.load().unwrap(), None);
        file.save("p/k1", true).unwrap();
        file.save("p/k2", false).unwrap(); // within the interval: not written
        assert_eq!(file.load().unwrap().as_deref(), Some("p/k1"));
        file.save("p/k3", true).unwrap();
        assert_eq!(file.load().unwrap().as_deref(), Some("p/k3"));
        let other = CheckpointFile::new(path.clone(), "rewrap", &target);
        assert!(other.load().is_err());
        file.remove().unwrap();
        assert_eq!(file.load().unwrap(), None);
    }
}
