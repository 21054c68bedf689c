//! The database API ([`polaris::db::Db`]) against every backend: one suite of cases, run on
//! SQLite (a temporary file) always, on MySQL/MariaDB when `POLARIS_TEST_MYSQL_URL` names a
//! server and on PostgreSQL when `POLARIS_TEST_POSTGRES_URL` does (CI sets both). On a shared
//! server each test works in a database (MySQL) or schema (PostgreSQL) of its own with a random
//! name, dropped at the end.
//!
//! `cargo test -p polaris --test db -- --ignored ingest_rate` measures SQLite's metrics
//! ingest rate, `... --ignored log_ingest_rate` its log ingest rate (build with `--release`
//! for a meaningful figure).

#[path = "../common/mod.rs"]
mod common;
mod integrity;
mod jobs;
mod log_chunks;
mod logs;
mod metrics;
mod plugins;
mod sessions;

use std::future::Future;

use common::Scratch;
use polaris::db::{Backend, Db};

/// What a case gets: a migrated database, and its URL for a second handle.
pub struct Ctx {
    pub db: Db,
    pub url: String,
}

async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(scratch) = Scratch::new(backend).await else {
        return;
    };
    let db = Db::connect(&scratch.url).await.expect("connect");
    db.migrate().await.expect("migrate");
    // Spawned: the database's futures must be Send for the handlers, and the clean-up below
    // runs even when the case panics.
    let outcome = tokio::spawn(case(Ctx {
        db,
        url: scratch.url.clone(),
    }))
    .await;
    scratch.remove().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

macro_rules! backend {
    ($module:ident, $backend:expr, $($group:ident::$case:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run($backend, super::$group::$case).await;
                }
            )*
        }
    };
}

macro_rules! suite {
    ($($group:ident::$case:ident),* $(,)?) => {
        backend!(sqlite, polaris::db::Backend::Sqlite, $($group::$case),*);
        backend!(mysql, polaris::db::Backend::MySql, $($group::$case),*);
        backend!(postgres, polaris::db::Backend::Postgres, $($group::$case),*);
    };
}

suite!(
    sessions::dead_replicas_sent_jobs_become_lost,
    jobs::migrates_twice,
    jobs::status_report_registers_and_updates,
    jobs::bad_reports_store_nothing,
    jobs::jobs_target_hosts_or_region,
    jobs::pending_jobs_until_result,
    jobs::results_are_all_or_nothing,
    jobs::marks_silent_hosts_offline,
    metrics::ingests_and_averages,
    metrics::mismatched_arrays_store_nothing,
    metrics::concurrent_ingests_share_new_series,
    metrics::many_values_move_to_the_index,
    metrics::queries_span_a_flush,
    plugins::inventories_replace_and_answer,
    plugins::releases_are_never_replaced,
    plugins::rollouts_begin_within_max_concurrency,
    plugins::rollouts_stop_past_max_errors,
    plugins::rollouts_fail_within_max_errors,
    logs::stored_once_across_a_resend,
    logs::queries_filter_by_host_source_time_text_and_field,
    logs::cursor_pages_return_each_record_once,
    logs::retention_deletes_the_oldest_by_age_and_size,
    log_chunks::a_resend_cut_differently_stores_nothing_twice,
    log_chunks::queries_merge_chunks_whose_times_overlap,
    integrity::baselines_are_judged_and_flags_stay,
    integrity::findings_page_and_acknowledge_once,
    integrity::realtime_reports_are_judged_never_accepted_and_their_findings_listed,
);
