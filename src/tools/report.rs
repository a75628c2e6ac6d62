//! What happened to each object, and the report of a whole run.

use std::time::Duration;

use serde::Serialize;

/// The result of one object in one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The tool's work was done (migrated, re-wrapped, verified): `bytes` of plaintext.
    Done {
        bytes: u64,
    },
    /// `--dry-run`: the work would be done.
    WouldDo {
        bytes: u64,
    },
    /// Already sealed (migrate leaves it).
    AlreadySealed,
    /// Still plaintext (rewrap skips it; verify reports it).
    Plaintext,
    /// The object changed while the tool worked on it; nothing was overwritten.
    Changed,
    /// Deleted between the listing and its turn: nothing to do.
    Vanished,
    Failed(String),
}

impl Outcome {
    /// Whether the object needs no further run (the checkpoint may pass it).
    pub fn is_settled(&self) -> bool {
        !matches!(self, Outcome::Changed | Outcome::Failed(_))
    }
}

/// The words a tool uses for its outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wording {
    pub command: &'static str,
    /// Past tense of the work: "migrated", "re-wrapped", "verified".
    pub done: &'static str,
    /// What `Outcome::Plaintext` means for this tool.
    pub plaintext: &'static str,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Count {
    pub objects: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    pub key: String,
    pub error: String,
}

/// The final report, printed as a summary and written as JSON with `--report`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub command: &'static str,
    pub target: String,
    pub dry_run: bool,
    /// The checkpoint key this run resumed after.
    pub resumed_after: Option<String>,
    pub listed: u64,
    /// Migrated / re-wrapped / verified.
    pub done: Count,
    /// `--dry-run`: what would have been done.
    pub would_do: Count,
    pub already_sealed: u64,
    pub plaintext: Vec<String>,
    pub vanished: u64,
    /// Changed during the run and skipped: a re-run handles them.
    pub changed: Vec<String>,
    pub failed: Vec<Failure>,
    /// The listing broke off: objects past this point were not seen.
    pub listing_error: Option<String>,
    pub duration_seconds: f64,
    #[serde(skip)]
    wording: Wording,
}

impl Report {
    pub fn new(wording: Wording, target: String, dry_run: bool) -> Self {
        Report {
            command: wording.command,
            target,
            dry_run,
            resumed_after: None,
            listed: 0,
            done: Count::default(),
            would_do: Count::default(),
            already_sealed: 0,
            plaintext: Vec::new(),
            vanished: 0,
            changed: Vec::new(),
            failed: Vec::new(),
            listing_error: None,
            duration_seconds: 0.0,
            wording,
        }
    }

    pub fn record(&mut self, key: &str, outcome: Outcome) {
        match outcome {
            Outcome::Done { bytes } => add(&mut self.done, bytes),
            Outcome::WouldDo { bytes } => add(&mut self.would_do, bytes),
            Outcome::AlreadySealed => self.already_sealed += 1,
            Outcome::Plaintext => self.plaintext.push(key.to_string()),
            Outcome::Vanished => self.vanished += 1,
            Outcome::Changed => self.changed.push(key.to_string()),
            Outcome::Failed(error) => self.failed.push(Failure {
                key: key.to_string(),
                error,
            }),
        }
    }

    pub fn set_duration(&mut self, duration: Duration) {
        self.duration_seconds = (duration.as_secs_f64() * 1000.0).round() / 1000.0;
    }

    /// Whether the whole target was listed and every object settled.
    pub fn is_complete(&self) -> bool {
        self.listing_error.is_none() && self.failed.is_empty() && self.changed.is_empty()
    }

    /// Whether anything failed, the listing included.
    pub fn has_failures(&self) -> bool {
        self.listing_error.is_some() || !self.failed.is_empty()
    }

    /// The human summary for stdout.
    pub fn summary(&self) -> String {
        let w = self.wording;
        let mut lines = vec![format!(
            "{}{} {}: {} objects listed in {:.1} s",
            w.command,
            if self.dry_run { " (dry run)" } else { "" },
            self.target,
            self.listed,
            self.duration_seconds
        )];
        if let Some(after) = &self.resumed_after {
            lines.push(format!("  resumed after {after:?}"));
        }
        if self.dry_run {
            lines.push(format!("  would be {}: {}", w.done, count(&self.would_do)));
        } else {
            lines.push(format!("  {}: {}", w.done, count(&self.done)));
        }
        if self.already_sealed > 0 {
            lines.push(format!("  already sealed: {}", self.already_sealed));
        }
        if !self.plaintext.is_empty() {
            lines.push(format!("  {}: {}", w.plaintext, self.plaintext.len()));
            lines.extend(self.plaintext.iter().map(|k| format!("    {k}")));
        }
        if self.vanished > 0 {
            lines.push(format!("  deleted before their turn: {}", self.vanished));
        }
        if !self.changed.is_empty() {
            lines.push(format!(
                "  changed during {}, skipped; rerun: {}",
                w.command,
                self.changed.len()
            ));
            lines.extend(self.changed.iter().map(|k| format!("    {k}")));
        }
        if let Some(error) = &self.listing_error {
            lines.push(format!(
                "  the listing failed, later keys were not seen: {error}"
            ));
        }
        lines.push(format!("  failed: {}", self.failed.len()));
        lines.extend(
            self.failed
                .iter()
                .map(|f| format!("    {}: {}", f.key, f.error)),
        );
        lines.join("\n")
    }
}

fn add(count: &mut Count, bytes: u64) {
    count.objects += 1;
    count.bytes += bytes;
}

fn count(c: &Count) -> String {
    format!("{} objects, {}", c.objects, human_bytes(c.bytes))
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATE: Wording = Wording {
        command: "migrate",
        done: "migrated",
        plaintext: "plaintext",
    };

    #[test]
    fn summary_names_every_outcome() {
        let mut r = Report::new(MIGRATE, "s3://b/".into(), false);
        r.listed = 5;
        r.resumed_after = Some("k0".into());
        r.record("k1", Outcome::Done { bytes: 2048 });
        r.record("k2", Outcome::AlreadySealed);
        r.record("k3", Outcome::Changed);
        r.record("k4", Outcome::Failed("boom".into()));
        r.record("k5", Outcome::Done { bytes: 1024 });
        r.set_duration(Duration::from_millis(1500));
        assert!(!r.is_complete());
        assert_eq!(
            r.summary(),
            "migrate s3://b/: 5 objects listed in 1.5 s\n  resumed after \"k0\"\n  migrated: 2 objects, 3.0 KiB\n  already sealed: 1\n  changed during migrate, skipped; rerun: 1\n    k3\n  failed: 1\n    k4: boom"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["done"]["objects"], 2);
        assert_eq!(json["done"]["bytes"], 3072);
        assert_eq!(json["failed"][0]["key"], "k4");
        assert_eq!(json["changed"][0], "k3");
        assert_eq!(json["duration_seconds"], 1.5);
    }

    #[test]
    fn dry_run_reports_what_would_be_done() {
        let mut r = Report::new(MIGRATE, "s3://b/p".into(), true);
        r.record("k", Outcome::WouldDo { bytes: 10 });
        assert!(r.is_complete());
        assert!(r.summary().contains("would be migrated: 1 objects, 10 B"));
    }

    #[test]
    fn a_broken_listing_is_a_failure() {
        let mut r = Report::new(MIGRATE, "s3://b/".into(), false);
        r.listing_error = Some("ListObjectsV2 answered 500".into());
        assert!(!r.is_complete());
        assert!(r.has_failures());
        assert!(
            r.summary().contains(
                "the listing failed, later keys were not seen: ListObjectsV2 answered 500"
            )
        );
    }

    #[test]
    fn byte_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
