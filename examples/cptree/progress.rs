//! cptree's progress line: on a terminal only, redrawn every quarter
//! second, with an ETA from a background count of the source's bytes.

use super::Shared;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A progress line on stderr, redrawn every quarter second, and a last
/// one at the end, only while stderr is a terminal. A second thread counts
/// the source's bytes for the ETA.
pub(crate) struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    pub(crate) fn start(sh: &Arc<Shared>, src: &Path, start: Instant) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if !sh.opts.progress || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return Progress { stop, thread: None };
        }
        let total = Arc::new((AtomicU64::new(0), AtomicBool::new(false)));
        let (t, root) = (total.clone(), src.to_owned());
        std::thread::spawn(move || {
            let mut stack = vec![root];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    match e.file_type() {
                        Ok(ft) if ft.is_dir() => stack.push(e.path()),
                        Ok(ft) if ft.is_file() => {
                            let len = e.metadata().map_or(0, |m| m.len());
                            t.0.fetch_add(len, Relaxed);
                        }
                        _ => {}
                    }
                }
            }
            t.1.store(true, Relaxed);
        });
        let (sh, halt) = (sh.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let line = |end: bool| {
                let s = sh.summary(start);
                let rate = s.bytes as f64 / s.seconds.max(1e-3);
                let eta = if end {
                    format!("done in {:.1} s", s.seconds)
                } else if total.1.load(Relaxed) && rate > 0.0 {
                    let left = total.0.load(Relaxed).saturating_sub(s.bytes) as f64;
                    format!("ETA {:.0} s", left / rate)
                } else {
                    "ETA ?".to_owned()
                };
                eprint!(
                    "\r\x1b[Kcptree: {} files, {:.1} MB, {:.0} MB/s, {eta}{}",
                    s.files,
                    s.bytes as f64 / 1e6,
                    rate / 1e6,
                    if end { "\n" } else { "" }
                );
            };
            while !halt.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                if !halt.load(Relaxed) {
                    line(false);
                }
            }
            line(true);
        });
        Progress {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
