//! The workload of benchmark P4: one collection cycle of nodus's default read plugins per
//! simulated host, serialized once into batch templates whose `time` fields are rewritten
//! in place for every send. Each batch holds the value lists of one host only, as nodus sends
//! them: Polaris takes the host from the client certificate and refuses lists of another.

use super::*;

/// One value list of a host's collection cycle.
pub(super) struct Kind {
    plugin: &'static str,
    plugin_instance: String,
    type_: &'static str,
    type_instance: String,
    /// Data sources: name, type.
    pub(super) ds: &'static [(&'static str, &'static str)],
}

/// What nodus's default read plugins report each cycle on a host with 2 CPUs, 2 interfaces,
/// 2 disks and 2 file systems, with collectd's types.db names.
pub(super) fn host_cycle() -> Vec<Kind> {
    const GAUGE: &[(&str, &str)] = &[("value", "gauge")];
    const DERIVE: &[(&str, &str)] = &[("value", "derive")];
    const RX_TX: &[(&str, &str)] = &[("rx", "derive"), ("tx", "derive")];
    const READ_WRITE: &[(&str, &str)] = &[("read", "derive"), ("write", "derive")];
    let kind = |plugin, plugin_instance: &str, type_, type_instance: &str, ds| Kind {
        plugin,
        plugin_instance: plugin_instance.to_owned(),
        type_,
        type_instance: type_instance.to_owned(),
        ds,
    };
    let mut cycle = vec![kind(
        "load",
        "",
        "load",
        "",
        &[
            ("shortterm", "gauge"),
            ("midterm", "gauge"),
            ("longterm", "gauge"),
        ],
    )];
    for cpu in ["0", "1"] {
        for state in [
            "user",
            "nice",
            "system",
            "idle",
            "wait",
            "interrupt",
            "softirq",
            "steal",
        ] {
            cycle.push(kind("cpu", cpu, "cpu", state, DERIVE));
        }
    }
    for interface in ["lo", "eth0"] {
        for type_ in ["if_octets", "if_packets", "if_errors", "if_dropped"] {
            cycle.push(kind("interface", interface, type_, "", RX_TX));
        }
    }
    for state in [
        "used",
        "buffered",
        "cached",
        "free",
        "slab_recl",
        "slab_unrecl",
    ] {
        cycle.push(kind("memory", "", "memory", state, GAUGE));
    }
    for mount in ["root", "boot"] {
        for state in ["free", "reserved", "used"] {
            cycle.push(kind("df", mount, "df_complex", state, GAUGE));
        }
    }
    for disk in ["sda", "sdb"] {
        for type_ in ["disk_octets", "disk_ops", "disk_time", "disk_merged"] {
            cycle.push(kind("disk", disk, type_, "", READ_WRITE));
        }
        let io_time: &[(&str, &str)] = &[("io_time", "derive"), ("weighted_io_time", "derive")];
        cycle.push(kind("disk", disk, "disk_io_time", "", io_time));
        cycle.push(kind("disk", disk, "pending_operations", "", GAUGE));
    }
    for state in [
        "running", "sleeping", "zombies", "stopped", "paging", "blocked",
    ] {
        cycle.push(kind("processes", "", "ps_state", state, GAUGE));
    }
    cycle.push(kind("processes", "", "fork_rate", "", DERIVE));
    cycle
}

/// One pre-serialized batch; its times are those of the first period.
pub(super) struct Template {
    pub(super) body: Vec<u8>,
    /// Offset of each `time` field's number in `body`, with its time in milliseconds.
    pub(super) times: Vec<(usize, u64)>,
    pub(super) values: usize,
    /// The host (index) whose lists these are: the batch is sent with its certificate.
    pub(super) host: usize,
}

/// The name of simulated host `host`.
pub(super) fn host_name(host: usize) -> String {
    format!("node-{host:03}.dc1.example.net")
}

/// The batches of `rounds` rounds of every host's cycle, `BATCH` value lists of one host each
/// (`rounds` is chosen so that one host's rounds make a whole number of batches), in the order
/// batch 0 of every host, then batch 1 of every host, ...: the first `hosts` batches hold
/// every series.
pub(super) fn templates(hosts: usize, rounds: usize) -> Vec<Template> {
    let cycle = host_cycle();
    let mut lists = Vec::with_capacity(rounds * hosts * cycle.len());
    for host in 0..hosts {
        for round in 0..rounds {
            // Hosts' clocks are not aligned: each collects at its own millisecond.
            let time_ms = T0_MS + (round as u64 * INTERVAL_S) * 1000 + (host as u64 * 137) % 10_000;
            for (i, kind) in cycle.iter().enumerate() {
                let n = (round * 7919 + host * 104_729 + i * 31) as f64;
                let values = kind
                    .ds
                    .iter()
                    .map(|(_, dstype)| {
                        Some(if *dstype == "gauge" {
                            n / 7.0
                        } else {
                            1.0e9 + n * 12_345.0
                        })
                    })
                    .collect();
                let list = ValueListJson {
                    values,
                    dstypes: kind.ds.iter().map(|(_, t)| (*t).to_owned()).collect(),
                    dsnames: kind.ds.iter().map(|(n, _)| (*n).to_owned()).collect(),
                    time: 0.0,
                    interval: INTERVAL_S as f64,
                    host: host_name(host),
                    plugin: kind.plugin.to_owned(),
                    plugin_instance: kind.plugin_instance.clone(),
                    type_: kind.type_.to_owned(),
                    type_instance: kind.type_instance.clone(),
                };
                lists.push((list, time_ms, host));
            }
        }
    }
    assert_eq!(
        (rounds * cycle.len()) % BATCH,
        0,
        "one host's rounds must make whole batches"
    );
    let per_host = rounds * cycle.len() / BATCH;
    let mut templates: Vec<Template> = lists
        .chunks(BATCH)
        .map(|chunk| {
            let mut template = Template {
                body: b"[".to_vec(),
                times: Vec::with_capacity(BATCH),
                values: 0,
                host: chunk[0].2,
            };
            for (i, (list, time_ms, host)) in chunk.iter().enumerate() {
                assert_eq!(*host, template.host, "one host per batch");
                if i > 0 {
                    template.body.push(b',');
                }
                let json = serde_json::to_string(list).unwrap();
                let (before, after) = json.split_once("\"time\":0.0").expect("one time field");
                template.body.extend_from_slice(before.as_bytes());
                template.body.extend_from_slice(b"\"time\":");
                template.times.push((template.body.len(), *time_ms));
                template.body.extend_from_slice(&[b'0'; TIME_WIDTH]);
                template.body.extend_from_slice(after.as_bytes());
                template.values += list.values.len();
            }
            template.body.push(b']');
            let mut check = template.body.clone();
            write_times(&mut check, &template.times, 0);
            let parsed: Vec<ValueListJson> = serde_json::from_slice(&check).expect("valid batch");
            assert_eq!(parsed.len(), BATCH);
            template
        })
        .collect();
    // Host-major as made; interleaved so that batch j of every host comes before batch j + 1.
    let mut order: Vec<usize> = (0..templates.len()).collect();
    order.sort_by_key(|&k| (k % per_host, k / per_host));
    let mut slots: Vec<Option<Template>> = templates.drain(..).map(Some).collect();
    order
        .into_iter()
        .map(|k| slots[k].take().expect("each template once"))
        .collect()
}

/// Writes each time plus `shift_ms` as `SSSSSSSSSS.mmm` at its offset.
pub(super) fn write_times(body: &mut [u8], times: &[(usize, u64)], shift_ms: u64) {
    for &(offset, time_ms) in times {
        let mut t = time_ms + shift_ms;
        let field = &mut body[offset..offset + TIME_WIDTH];
        for i in (0..TIME_WIDTH).rev() {
            if i == TIME_WIDTH - 4 {
                field[i] = b'.';
            } else {
                field[i] = b'0' + (t % 10) as u8;
                t /= 10;
            }
        }
        assert_eq!(t, 0, "time beyond the field's width");
    }
}
