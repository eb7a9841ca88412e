//! `AnalyticsService`: stress and cascade runs for admins and auditors.
//!
//! A run takes a moment of the ledger under its lock (O(participant
//! chunks), no copy: `State::moment`), then computes on a blocking thread
//! of its own with the lock released, so checks go on meanwhile. Runs go
//! one at a time ([`RUNS_AT_ONCE`]); each is stopped when its deadline
//! passes or its caller goes away.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use interlock::v1 as pb;
use interlock_analytics::{AnalyticsError, Book};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::api::Shared;
use crate::convert;

/// Analytics runs computing at once: each takes a core while it runs, and
/// the checks need the other.
pub const RUNS_AT_ONCE: usize = 1;

/// Sets the flag when dropped: a call whose client went away (or whose
/// gRPC deadline passed) drops its future, and the run stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone)]
pub struct AnalyticsApi {
    shared: Shared,
    runs: Arc<Semaphore>,
    deadline: Duration,
}

impl AnalyticsApi {
    pub fn new(shared: Shared, deadline: Duration) -> Self {
        AnalyticsApi {
            shared,
            runs: Arc::new(Semaphore::new(RUNS_AT_ONCE)),
            deadline,
        }
    }

    /// Runs `work` over a moment of the ledger, off the lock and off the
    /// runtime, within the deadline.
    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Book, &dyn Fn() -> bool) -> Result<R, AnalyticsError> + Send + 'static,
    ) -> Result<R, Status> {
        let until = Instant::now() + self.deadline;
        let late = || {
            Status::deadline_exceeded(format!(
                "the run took longer than {} ms (--analytics-deadline-ms)",
                self.deadline.as_millis()
            ))
        };
        let permit = tokio::time::timeout_at(until.into(), self.runs.clone().acquire_owned())
            .await
            .map_err(|_| late())?
            .map_err(|_| Status::unavailable("the server is stopping"))?;
        let moment = self
            .shared
            .ledger
            .read(|s| s.moment())
            .map_err(convert::status)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancel.clone());
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let book = Book::from_moment(&moment);
            drop(moment);
            work(&book, &|| {
                cancel.load(Ordering::Relaxed) || Instant::now() >= until
            })
        })
        .await
        .map_err(|e| Status::internal(format!("the analytics run failed: {e}")))?;
        match result {
            Err(AnalyticsError::Cancelled) if Instant::now() >= until => Err(late()),
            r => r.map_err(convert::analytics_status),
        }
    }
}

#[tonic::async_trait]
impl pb::analytics_service_server::AnalyticsService for AnalyticsApi {
    async fn stress(
        &self,
        req: Request<pb::StressRequest>,
    ) -> Result<Response<pb::StressReport>, Status> {
        let r = convert::stress_request(req.into_inner())?;
        let report = self
            .run(move |book, cancelled| interlock_analytics::stress::stress(book, &r, cancelled))
            .await?;
        Ok(Response::new(convert::stress_report_pb(report)))
    }

    async fn cascade(
        &self,
        req: Request<pb::CascadeRequest>,
    ) -> Result<Response<pb::CascadeReport>, Status> {
        let r = convert::cascade_request(req.into_inner())?;
        let report = self
            .run(move |book, cancelled| interlock_analytics::cascade::cascade(book, &r, cancelled))
            .await?;
        Ok(Response::new(convert::cascade_report_pb(report)))
    }

    async fn list_scenarios(
        &self,
        _req: Request<pb::ListScenariosRequest>,
    ) -> Result<Response<pb::ListScenariosResponse>, Status> {
        Ok(Response::new(convert::scenarios_pb(
            interlock_analytics::scenario::builtins(),
        )))
    }
}
