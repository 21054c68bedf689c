//! The runner's limits when no cgroup holds them: the process tree's memory and CPU sampled
//! every second, and the program killed after `hits` consecutive samples over a limit.

use tokio::time::Instant;

use super::Runner;
use crate::procfs;
use crate::state::Event;

/// Consecutive over-limit samples and the previous CPU reading.
#[derive(Default)]
pub(super) struct Sampler {
    last: Option<(Instant, u64)>,
}

impl Runner {
    /// Samples the process tree against the limits; queues `OverLimit` after `hits` in a row.
    pub(super) fn sample(&mut self) {
        let (Some(w), Some(sampler)) = (&self.proc, &mut self.sampler) else {
            return;
        };
        let usage = procfs::tree_usage(w.pid);
        let now = Instant::now();
        let cpu = sampler.last.map(|(at, ticks)| {
            let secs = now.duration_since(at).as_secs_f64().max(0.001);
            usage.cpu_ticks.saturating_sub(ticks) as f64 / procfs::ticks_per_second() as f64 / secs
                * 100.0
        });
        sampler.last = Some((now, usage.cpu_ticks));
        let limits = &self.spec.limits;
        let mut over = vec![];
        if let Some(max) = limits.memory_bytes.filter(|m| usage.rss_bytes > *m) {
            over.push(format!("memory {} > {max} bytes", usage.rss_bytes));
        }
        if let (Some(max), Some(pct)) = (limits.cpu_percent, cpu)
            && pct > max
        {
            over.push(format!("CPU {pct:.1}% > {max}%"));
        }
        if over.is_empty() {
            self.limit_hits = 0;
            return;
        }
        self.limit_hits += 1;
        tracing::debug!(program = %self.spec.name, hits = self.limit_hits, over = ?over, "Over its limits.");
        if self.limit_hits >= limits.hits.max(1) {
            self.last_error = Some(format!(
                "killed for its limits after {} samples: {}",
                self.limit_hits,
                over.join(", ")
            ));
            self.queue.push_back(Event::OverLimit);
        } else {
            self.publish();
        }
    }

    /// Records how limits are enforced, from the group and sampler just set up.
    pub(super) fn set_limiter(&mut self) {
        self.limiter = match (&self.group, &self.sampler) {
            (Some(_), _) => self.ctx.cgroups.as_ref().map_or("cgroup", |c| c.version()),
            (None, Some(_)) => "sampler",
            _ => "none",
        };
    }
}
