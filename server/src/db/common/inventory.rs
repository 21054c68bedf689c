//! The hosts' plugin inventories in the database, written once for the three backends (see
//! `store` for the dialect rules): an inventory replaces everything stored of its host in one
//! transaction, after `bounded::check_inventory` cut it to the limits and clipped its texts to
//! the columns (it comes from the network: a broken or hostile agent must not be able to make
//! it unstorable); and the three reads of the admin API (one host, one plugin's hosts, problems).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use wire::plugins::{InstanceState, PluginAgent, PluginInventory, SkippedFile};

use super::bounded::{
    CheckedPlugin, NAME_MAX, VERSION_MAX, check_inventory, parse_agent, parse_state, state_word,
};
use super::{Dialect, SqlStore, now};
use crate::db::plugins::{AgentInventory, PlacedPlugin, PluginProblem, ProblemKind};
use crate::db::{DbError, DbFuture};

/// A `plugin_inventory` row.
#[derive(sqlx::FromRow)]
pub struct InventoryRow {
    hostname: String,
    agent: String,
    name: String,
    version: String,
    abi: String,
    roles: String,
    file: String,
    digest: String,
    instances: String,
    state: String,
    reason: Option<String>,
    updated: DateTime<Utc>,
}

impl InventoryRow {
    fn placed(self) -> Result<PlacedPlugin, DbError> {
        let unreadable = |e: serde_json::Error| {
            DbError::Invalid(format!(
                "stored inventory of {} is unreadable: {e}",
                self.hostname
            ))
        };
        Ok(PlacedPlugin {
            agent: parse_agent(&self.agent)?,
            roles: serde_json::from_str(&self.roles).map_err(unreadable)?,
            instances: serde_json::from_str(&self.instances).map_err(unreadable)?,
            state: parse_state(&self.state)?,
            hostname: self.hostname,
            name: self.name,
            version: self.version,
            abi: self.abi,
            file: self.file,
            digest: self.digest,
            reason: self.reason,
            updated: self.updated,
        })
    }
}

/// A `plugin_agents` row.
#[derive(sqlx::FromRow)]
pub struct PluginAgentRow {
    hostname: String,
    agent: String,
    error: Option<String>,
    cut: i64,
    updated: DateTime<Utc>,
}

/// A `plugin_skipped` row.
#[derive(sqlx::FromRow)]
pub struct SkippedRow {
    hostname: String,
    agent: String,
    file: String,
    reason: String,
    updated: DateTime<Utc>,
}

const INVENTORY: &str = "SELECT hostname, agent, name, version, abi, roles, file, digest, \
    instances, state, reason, updated FROM plugin_inventory";

impl<D> crate::db::PluginStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'a> Option<&'a str>: Type<D> + Encode<'a, D>,
    for<'r> InventoryRow: FromRow<'r, D::Row>,
    for<'r> PluginAgentRow: FromRow<'r, D::Row>,
    for<'r> SkippedRow: FromRow<'r, D::Row>,
    for<'r> super::catalogue::ReleaseRow: FromRow<'r, D::Row>,
{
    fn replace_inventory<'a>(
        &'a self,
        hostname: &'a str,
        inventory: &'a PluginInventory,
    ) -> DbFuture<'a, ()> {
        Box::pin(async move {
            super::check_text("hostname", hostname, true, super::HOSTNAME_MAX)?;
            let agents = check_inventory(inventory)?;
            let now = now();
            let mut tx = self.begin_write().await?;
            for table in ["plugin_inventory", "plugin_skipped", "plugin_agents"] {
                let mut delete =
                    QueryBuilder::<D>::new(format!("DELETE FROM {table} WHERE hostname = "));
                delete.push_bind(hostname);
                delete.build().execute(&mut *tx).await?;
            }
            if !agents.is_empty() {
                let mut insert = QueryBuilder::<D>::new(
                    "INSERT INTO plugin_agents (hostname, agent, error, cut, updated) ",
                );
                insert.push_values(&agents, |mut row, a| {
                    row.push_bind(hostname)
                        .push_bind(a.agent.as_str())
                        .push_bind(a.error.as_deref())
                        .push_bind(a.cut)
                        .push_bind(now);
                });
                insert.build().execute(&mut *tx).await?;
            }
            let plugins: Vec<(PluginAgent, &CheckedPlugin)> = agents
                .iter()
                .flat_map(|a| a.plugins.iter().map(move |p| (a.agent, p)))
                .collect();
            for chunk in plugins.chunks(D::MAX_BINDS / 12) {
                let mut insert = QueryBuilder::<D>::new(
                    "INSERT INTO plugin_inventory (hostname, agent, name, version, abi, roles, \
                     file, digest, instances, state, reason, updated) ",
                );
                insert.push_values(chunk, |mut row, (agent, p)| {
                    row.push_bind(hostname)
                        .push_bind(agent.as_str())
                        .push_bind(p.name.as_str())
                        .push_bind(p.version.as_str())
                        .push_bind(p.abi.as_str())
                        .push_bind(p.roles.as_str());
                    row.push_bind(p.file.as_str())
                        .push_bind(p.digest.as_str())
                        .push_bind(p.instances.as_str())
                        .push_bind(state_word(p.state))
                        .push_bind(p.reason.as_deref())
                        .push_bind(now);
                });
                insert.build().execute(&mut *tx).await?;
            }
            let skipped: Vec<(PluginAgent, &SkippedFile)> = agents
                .iter()
                .flat_map(|a| a.skipped.iter().map(move |s| (a.agent, s)))
                .collect();
            for chunk in skipped.chunks(D::MAX_BINDS / 5) {
                let mut insert = QueryBuilder::<D>::new(
                    "INSERT INTO plugin_skipped (hostname, agent, file, reason, updated) ",
                );
                insert.push_values(chunk, |mut row, (agent, s)| {
                    row.push_bind(hostname)
                        .push_bind(agent.as_str())
                        .push_bind(s.file.as_str())
                        .push_bind(s.reason.as_str())
                        .push_bind(now);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn host_plugins<'a>(&'a self, hostname: &'a str) -> DbFuture<'a, Vec<AgentInventory>> {
        Box::pin(async move {
            super::check_text("hostname", hostname, true, super::HOSTNAME_MAX)?;
            let agents: Vec<PluginAgentRow> = sqlx::query_as(D::sql(
                "SELECT hostname, agent, error, cut, updated FROM plugin_agents WHERE hostname = ?",
            ))
            .bind(hostname)
            .fetch_all(&self.pool)
            .await?;
            let mut select = QueryBuilder::<D>::new(INVENTORY);
            select.push(" WHERE hostname = ").push_bind(hostname);
            let plugins: Vec<InventoryRow> = select.build_query_as().fetch_all(&self.pool).await?;
            let skipped: Vec<SkippedRow> = sqlx::query_as(D::sql(
                "SELECT hostname, agent, file, reason, updated FROM plugin_skipped \
                 WHERE hostname = ?",
            ))
            .bind(hostname)
            .fetch_all(&self.pool)
            .await?;
            let mut by_agent: BTreeMap<PluginAgent, AgentInventory> = BTreeMap::new();
            for row in agents {
                let agent = parse_agent(&row.agent)?;
                by_agent.insert(
                    agent,
                    AgentInventory {
                        agent,
                        error: row.error,
                        cut: super::unsigned(row.cut),
                        updated: row.updated,
                        plugins: Vec::new(),
                        skipped: Vec::new(),
                    },
                );
            }
            for row in plugins {
                let plugin = row.placed()?;
                if let Some(agent) = by_agent.get_mut(&plugin.agent) {
                    agent.plugins.push(plugin);
                }
            }
            for row in skipped {
                if let Some(agent) = by_agent.get_mut(&parse_agent(&row.agent)?) {
                    agent.skipped.push(SkippedFile {
                        file: row.file,
                        reason: row.reason,
                    });
                }
            }
            let mut agents: Vec<AgentInventory> = by_agent.into_values().collect();
            for agent in &mut agents {
                agent.plugins.sort_by(|a, b| a.name.cmp(&b.name));
                agent.skipped.sort_by(|a, b| a.file.cmp(&b.file));
            }
            Ok(agents)
        })
    }

    fn plugin_hosts<'a>(
        &'a self,
        name: &'a str,
        version: Option<&'a str>,
        agent: Option<PluginAgent>,
    ) -> DbFuture<'a, Vec<PlacedPlugin>> {
        Box::pin(async move {
            super::check_text("name", name, true, NAME_MAX)?;
            if let Some(version) = version {
                super::check_text("version", version, true, VERSION_MAX)?;
            }
            let mut select = QueryBuilder::<D>::new(INVENTORY);
            select.push(" WHERE name = ").push_bind(name);
            if let Some(version) = version {
                select.push(" AND version = ").push_bind(version);
            }
            if let Some(agent) = agent {
                select.push(" AND agent = ").push_bind(agent.as_str());
            }
            let rows: Vec<InventoryRow> = select.build_query_as().fetch_all(&self.pool).await?;
            let mut placed = rows
                .into_iter()
                .map(InventoryRow::placed)
                .collect::<Result<Vec<_>, _>>()?;
            placed.sort_by(|a, b| (&a.hostname, a.agent).cmp(&(&b.hostname, b.agent)));
            Ok(placed)
        })
    }

    fn plugin_problems<'a>(&'a self, limit: u32) -> DbFuture<'a, Vec<PluginProblem>> {
        Box::pin(async move {
            let limit = i64::from(limit);
            let mut select = QueryBuilder::<D>::new(
                "SELECT hostname, agent, error, cut, updated FROM plugin_agents \
                 WHERE error IS NOT NULL ORDER BY hostname LIMIT ",
            );
            select.push_bind(limit);
            let errors: Vec<PluginAgentRow> = select.build_query_as().fetch_all(&self.pool).await?;
            let mut select = QueryBuilder::<D>::new(
                "SELECT hostname, agent, file, reason, updated FROM plugin_skipped \
                 ORDER BY hostname LIMIT ",
            );
            select.push_bind(limit);
            let skipped: Vec<SkippedRow> = select.build_query_as().fetch_all(&self.pool).await?;
            let mut select = QueryBuilder::<D>::new(INVENTORY);
            select.push(" WHERE state IN ('failing', 'penalised') ORDER BY hostname LIMIT ");
            select.push_bind(limit);
            let failing: Vec<InventoryRow> = select.build_query_as().fetch_all(&self.pool).await?;

            let mut problems = Vec::new();
            for row in errors {
                problems.push(PluginProblem {
                    agent: parse_agent(&row.agent)?,
                    hostname: row.hostname,
                    kind: ProblemKind::AgentError,
                    plugin: None,
                    instance: None,
                    file: None,
                    reason: row.error.unwrap_or_default(),
                    updated: row.updated,
                });
            }
            for row in skipped {
                problems.push(PluginProblem {
                    agent: parse_agent(&row.agent)?,
                    hostname: row.hostname,
                    kind: ProblemKind::Skipped,
                    plugin: None,
                    instance: None,
                    file: Some(row.file),
                    reason: row.reason,
                    updated: row.updated,
                });
            }
            for row in failing {
                let plugin = row.placed()?;
                for instance in &plugin.instances {
                    let kind = match instance.state {
                        InstanceState::Failing => ProblemKind::Failing,
                        InstanceState::Penalised => ProblemKind::Penalised,
                        _ => continue,
                    };
                    problems.push(PluginProblem {
                        hostname: plugin.hostname.clone(),
                        agent: plugin.agent,
                        kind,
                        plugin: Some(plugin.name.clone()),
                        instance: Some(instance.name.clone()),
                        file: Some(plugin.file.clone()),
                        reason: instance.reason.clone().unwrap_or_default(),
                        updated: plugin.updated,
                    });
                }
            }
            problems.sort_by(|a, b| {
                (&a.hostname, a.agent, &a.plugin, &a.instance, &a.file).cmp(&(
                    &b.hostname,
                    b.agent,
                    &b.plugin,
                    &b.instance,
                    &b.file,
                ))
            });
            problems.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            Ok(problems)
        })
    }

    fn add_release<'a>(
        &'a self,
        release: &'a crate::db::plugins::Release,
    ) -> DbFuture<'a, crate::db::plugins::Release> {
        Box::pin(self.insert_release(release))
    }

    fn release<'a>(
        &'a self,
        agent: PluginAgent,
        name: &'a str,
        version: &'a str,
    ) -> DbFuture<'a, Option<crate::db::plugins::Release>> {
        Box::pin(self.select_release(agent, name, version))
    }

    fn releases<'a>(&'a self) -> DbFuture<'a, Vec<crate::db::plugins::Release>> {
        Box::pin(self.select_releases())
    }
}
