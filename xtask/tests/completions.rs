//! `xtask completions`: the bash scripts load in a real bash, register themselves for their
//! binary and complete flags, subcommands and values as a user pressing TAB would see; the zsh
//! scripts parse (`zsh -n`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{run_xtask, tool};

/// Every shipped binary.
const BINARIES: [&str; 10] = [
    "polaris",
    "bootagent",
    "mkpkg",
    "gearman",
    "gearctl",
    "nodus",
    "nodusctl",
    "logagent",
    "logagentctl",
    "secureagent",
];

/// Runs `script` in a non-interactive bash; returns its standard output.
fn bash(bash: &Path, script: &str) -> String {
    let run = Command::new(bash)
        .args(["--norc", "--noprofile", "-c", script])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "bash failed: {}\n{script}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.stderr.is_empty(),
        "bash complained:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout).unwrap()
}

/// What TAB offers after `words` (the last one being completed) with `binary`'s script loaded:
/// the function `complete -p` names is called as bash calls it.
fn offered(bash_path: &Path, file: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let script = format!(
        "source '{file}'\n\
         function=$(complete -p {binary} | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')\n\
         COMP_WORDS=({words})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         \"$function\" {binary} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file = file.display(),
        binary = words[0],
        words = quoted.join(" "),
    );
    bash(bash_path, &script)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn bash_completion_loads_and_registers_every_binary() {
    let Some(bash_path) = tool("bash", "bash") else {
        return;
    };
    let out = run_xtask("completions");
    for binary in BINARIES {
        let file = out.path().join("bash").join(binary);
        let shown = bash(
            &bash_path,
            &format!("source '{}' && complete -p {binary}", file.display()),
        );
        assert!(
            shown.starts_with("complete ")
                && shown.contains(&format!(" -F _{binary} "))
                && shown.trim_end().ends_with(&format!(" {binary}")),
            "{binary}: {shown}"
        );
    }
}

#[test]
fn bash_completes_flags_subcommands_and_values() {
    let Some(bash_path) = tool("bash", "bash") else {
        return;
    };
    let out = run_xtask("completions");
    let dir = out.path().join("bash");
    assert_eq!(
        offered(&bash_path, &dir.join("gearctl"), &["gearctl", "--so"]),
        ["--socket"]
    );
    let plugin = offered(
        &bash_path,
        &dir.join("nodusctl"),
        &["nodusctl", "plugin", ""],
    );
    for subcommand in ["list", "start", "stop", "remove", "load", "install"] {
        assert!(plugin.iter().any(|w| w == subcommand), "{plugin:?}");
    }
    assert_eq!(
        offered(&bash_path, &dir.join("mkpkg"), &["mkpkg", "agent", ""])
            .into_iter()
            .filter(|w| !w.starts_with('-'))
            .collect::<Vec<_>>(),
        ["nodus", "gearman", "logagent", "secureagent"]
    );
    assert_eq!(
        offered(
            &bash_path,
            &dir.join("secureagent"),
            &["secureagent", "--in"]
        ),
        ["--init", "--init-if-missing"]
    );
    assert_eq!(
        offered(&bash_path, &dir.join("nodus"), &["nodus", "-"])
            .into_iter()
            .filter(|w| w == "-t" || w == "-T" || w == "-C")
            .count(),
        3
    );
}

#[test]
fn zsh_completion_parses() {
    let Some(zsh) = tool("zsh", "zsh") else {
        return;
    };
    let out = run_xtask("completions");
    for binary in BINARIES {
        let file = out.path().join("zsh").join(format!("_{binary}"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with(&format!("#compdef {binary}")), "{text}");
        let run = Command::new(&zsh).arg("-n").arg(&file).output().unwrap();
        assert!(
            run.status.success() && run.stderr.is_empty(),
            "zsh -n _{binary}: {}\n{}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
    }
}
