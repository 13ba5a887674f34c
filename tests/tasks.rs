//! Task ids, names and the live-task listing.

use curing::{TaskBuilder, TaskState};
use std::time::Duration;

#[test]
fn tasks_are_listed_with_ids_names_and_states() {
    curing::run(async {
        let sleeper = TaskBuilder::new()
            .name("sleeper")
            .spawn(curing::time::sleep(Duration::from_secs(60)));
        let queued = curing::spawn(async {});
        assert_eq!(sleeper.name(), Some("sleeper"));
        assert_eq!(queued.name(), None);
        assert_ne!(sleeper.id(), queued.id());
        curing::yield_now().await; // the sleeper registers its timer; `queued` finishes

        let again = TaskBuilder::new().name("again").spawn(async {});
        let list = curing::runtime::tasks();
        let ids: Vec<_> = list.iter().map(|t| t.id).collect();
        assert_eq!(ids, [sleeper.id(), again.id()], "{list:?}");
        assert_eq!(list[0].name.as_deref(), Some("sleeper"));
        assert_eq!(list[0].state, TaskState::Waiting);
        assert_eq!(list[1].state, TaskState::Scheduled);

        // A task sees itself as running.
        let me = TaskBuilder::new().name("me").spawn(async {
            let list = curing::runtime::tasks();
            list.into_iter()
                .find(|t| t.name.as_deref() == Some("me"))
                .map(|t| t.state)
        });
        assert_eq!(me.await.unwrap(), Some(TaskState::Running));
        sleeper.abort();
        assert!(sleeper.await.unwrap_err().is_cancelled());
        again.await.unwrap();
        assert!(curing::runtime::tasks().is_empty());
    });
}
