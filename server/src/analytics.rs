//! `AnalyticsService`: stress, cascade and systemic runs for admins and
//! auditors, and the reuse report (a venue reads its own, aggregated).
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
use interlock_ledger::VenueId;
use tokio::sync::Semaphore;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::api::Shared;
use crate::auth::{self, Role};
use crate::convert;

/// Progress messages of a systemic run that may wait for a slow reader
/// before the run waits for it.
const PROGRESS_BUFFERED: usize = 64;

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
    /// The book of the last run's moment: the next run re-encodes only the
    /// participants that changed since (runs go one at a time).
    cache: Arc<std::sync::Mutex<interlock_analytics::book::BookCache>>,
    deadline: Duration,
    /// The deadline of a systemic ranking (one cascade per participant).
    systemic_deadline: Duration,
    /// k: the fewest participants a venue's own reuse report aggregates.
    reuse_k: usize,
}

impl AnalyticsApi {
    pub fn new(
        shared: Shared,
        deadline: Duration,
        systemic_deadline: Duration,
        reuse_k: usize,
    ) -> Self {
        AnalyticsApi {
            shared,
            runs: Arc::new(Semaphore::new(RUNS_AT_ONCE)),
            cache: Default::default(),
            deadline,
            systemic_deadline,
            reuse_k,
        }
    }

    /// Admins and auditors only (a venue reaches this service for its own
    /// reuse report); a refusal is audited.
    fn analyst<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let p = auth::principal(req)?;
        if matches!(p.role, Role::Admin | Role::Auditor) {
            return Ok(());
        }
        let status = auth::needs(Role::Admin);
        let who = auth::source_of(req, Some(p));
        self.shared
            .denials
            .record(&who, &auth::method_of(req), &status);
        Err(status)
    }

    /// Runs `work` over a moment of the ledger, off the lock and off the
    /// runtime, within `--analytics-deadline-ms`.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Book, &dyn Fn() -> bool) -> Result<R, AnalyticsError> + Send + 'static,
    ) -> Result<R, Status> {
        self.run_within(self.deadline, "--analytics-deadline-ms", work)
            .await
    }

    /// [`AnalyticsApi::run`] within `deadline` (the flag that sets it named
    /// in the answer when it passes).
    async fn run_within<R: Send + 'static>(
        &self,
        deadline: Duration,
        flag: &'static str,
        work: impl FnOnce(&Book, &dyn Fn() -> bool) -> Result<R, AnalyticsError> + Send + 'static,
    ) -> Result<R, Status> {
        let until = Instant::now() + deadline;
        let late = || {
            Status::deadline_exceeded(format!(
                "the run took longer than {} ms ({flag})",
                deadline.as_millis()
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
        let cache = self.cache.clone();
        let metrics = self.shared.metrics.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let started = Instant::now();
            // A run that panicked part-way may have left the cache half
            // updated: start it afresh.
            let mut cache = cache.lock().unwrap_or_else(|e| {
                let mut g = e.into_inner();
                *g = interlock_analytics::book::BookCache::default();
                g
            });
            // The moment is let go inside, as soon as what changed is in
            // hand: the ledger stops copying what it writes for it.
            let (book, _) = cache.refresh(moment);
            let refreshed = started.elapsed();
            let result = work(book, &|| {
                cancel.load(Ordering::Relaxed) || Instant::now() >= until
            });
            metrics.analytics_run(refreshed, started.elapsed());
            result
        })
        .await
        .map_err(|e| Status::internal(format!("the analytics run failed: {e}")))?;
        match result {
            Err(AnalyticsError::Cancelled) if Instant::now() >= until => {
                self.shared.metrics.analytics_past_deadline();
                Err(late())
            }
            r => r.map_err(convert::analytics_status),
        }
    }
}

#[tonic::async_trait]
impl pb::analytics_service_server::AnalyticsService for AnalyticsApi {
    type SystemicStream = ReceiverStream<Result<pb::SystemicUpdate, Status>>;

    async fn stress(
        &self,
        req: Request<pb::StressRequest>,
    ) -> Result<Response<pb::StressReport>, Status> {
        self.analyst(&req)?;
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
        self.analyst(&req)?;
        let r = convert::cascade_request(req.into_inner())?;
        let report = self
            .run(move |book, cancelled| interlock_analytics::cascade::cascade(book, &r, cancelled))
            .await?;
        Ok(Response::new(convert::cascade_report_pb(report)))
    }

    async fn list_scenarios(
        &self,
        req: Request<pb::ListScenariosRequest>,
    ) -> Result<Response<pb::ListScenariosResponse>, Status> {
        self.analyst(&req)?;
        let scenarios = self
            .shared
            .ledger
            .read(|s| {
                s.scenarios()
                    .iter()
                    .map(|(name, x)| {
                        convert::scenario_pb(name, x, s.setting_version("scenario", name))
                    })
                    .collect()
            })
            .map_err(convert::status)?;
        Ok(Response::new(pb::ListScenariosResponse { scenarios }))
    }

    async fn systemic(
        &self,
        req: Request<pb::SystemicRequest>,
    ) -> Result<Response<Self::SystemicStream>, Status> {
        self.analyst(&req)?;
        let r = convert::systemic_request(req.into_inner())?;
        let (tx, rx) = tokio::sync::mpsc::channel(PROGRESS_BUFFERED);
        let api = self.clone();
        let open = self
            .shared
            .metrics
            .stream_opened(crate::metrics::StreamKind::Systemic);
        tokio::spawn(async move {
            let _open = open;
            let progress = tx.clone();
            let deadline = api.systemic_deadline;
            let report = api
                .run_within(
                    deadline,
                    "--systemic-deadline-ms",
                    move |book, cancelled| {
                        // The run is the spawned task's, not the call's: a
                        // reader that went away (the stream closed) stops it
                        // at its next look, as a deadline does.
                        let gone = progress.clone();
                        let stop = move || cancelled() || gone.is_closed();
                        interlock_analytics::systemic::systemic(
                            book,
                            &r,
                            &stop,
                            &mut |done, total, row| {
                                let _ = progress.blocking_send(Ok(pb::SystemicUpdate {
                                    update: Some(pb::systemic_update::Update::Progress(
                                        pb::SystemicProgress {
                                            done: done as u32,
                                            total: total as u32,
                                            row: Some(convert::systemic_row_pb(row)),
                                        },
                                    )),
                                }));
                            },
                        )
                    },
                )
                .await;
            let last = report.map(|r| pb::SystemicUpdate {
                update: Some(pb::systemic_update::Update::Report(
                    convert::systemic_report_pb(r),
                )),
            });
            let _ = tx.send(last).await;
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn reuse_report(
        &self,
        req: Request<pb::ReuseReportRequest>,
    ) -> Result<Response<pb::ReuseReportResponse>, Status> {
        let p = auth::principal(&req)?.clone();
        let asked = req.get_ref().venue.clone();
        // A venue: its own, aggregated over k. Anyone else the service
        // admits: an admin or an auditor, exact.
        let (venues, k): (Option<Vec<VenueId>>, Option<usize>) = if p.role == Role::Venue {
            if !asked.is_empty() && asked != p.id {
                let status = Status::permission_denied("a venue reads only its own reuse report");
                let who = auth::source_of(&req, Some(&p));
                self.shared
                    .denials
                    .record(&who, &auth::method_of(&req), &status);
                return Err(status);
            }
            (Some(vec![convert::venue(&p.id)?]), Some(self.reuse_k))
        } else if asked.is_empty() {
            (None, None)
        } else {
            (Some(vec![convert::venue(&asked)?]), None)
        };
        let reports = self
            .run(move |book, cancelled| {
                let venues = venues.unwrap_or_else(|| {
                    (0..book.venues.len())
                        .filter(|v| book.venue_live(*v))
                        .map(|v| book.venues[v].id.clone())
                        .collect()
                });
                venues
                    .iter()
                    .map(|v| {
                        if k.is_some() && book.venue_index(v).is_none() {
                            // A venue with nothing committed yet: an empty,
                            // withheld report, not an error.
                            return Ok(interlock_analytics::reuse::ReuseReport::withheld(
                                v.clone(),
                                book.at_ms,
                                k,
                            ));
                        }
                        interlock_analytics::reuse::reuse_report(book, v, k, cancelled)
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        Ok(Response::new(pb::ReuseReportResponse {
            venues: reports.into_iter().map(convert::reuse_pb).collect(),
        }))
    }
}
