//! The `tracing` feature: task spawn/exit events, a span per task poll,
//! op submit/complete/cancel events, collected by a small subscriber.
#![cfg(feature = "tracing")]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records each event as "message field=value ..." and each new span's name.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = Line(format!("span {}", span.metadata().name()));
        span.record(&mut line);
        self.0.lock().unwrap().push(line.0);
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn tasks_and_ops_are_traced() {
    let collect = Collect::default();
    let lines = collect.0.clone();
    tracing::subscriber::with_default(collect, || {
        curing::run(async {
            let t = curing::TaskBuilder::new()
                .name("worker")
                .spawn(async { curing::runtime::nop().await.unwrap() });
            t.await.unwrap();
            let (a, _b) = curing::net::UnixStream::pair().unwrap();
            let timed_out =
                curing::time::timeout(Duration::from_millis(5), a.read(vec![0u8; 8])).await;
            assert!(timed_out.is_err());
            let stuck = curing::spawn(std::future::pending::<()>());
            curing::yield_now().await;
            stuck.abort();
        })
    });
    let lines = lines.lock().unwrap();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    let all = lines.join("\n");
    assert!(has("task.spawn task=1 name=\"worker\""), "{all}");
    assert!(has("span task.poll task=1"), "{all}");
    assert!(has("op.submit op=\"Nop\""), "{all}");
    assert!(has("op.complete"), "{all}");
    assert!(has("task.exit task=1 outcome=\"done\""), "{all}");
    assert!(has("op.submit op=\"Recv\""), "{all}");
    assert!(has("op.cancel"), "{all}");
    assert!(has("task.exit task=2 outcome=\"cancelled\""), "{all}");
}
