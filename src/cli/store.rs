//! `keygate store migrate --format binary|json`: the store's record format
//! (docs/upgrading.md), and the rewriting `keygate doctor --fix` shares with it.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::app::open_store;
use crate::config::Config;
use crate::store::{Converted, RECORD_FORMAT_META, RecordFormat, TokenStore, codec};

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Write key records in FORMAT from now on and rewrite every stored one into it (binary: compact, read by keygate from this version on; json: what earlier versions read, the way back). Safe while servers run on Valkey; on the embedded store, stop the server first
    Migrate {
        #[arg(long, value_enum)]
        format: FormatArg,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Binary,
    Json,
}

impl From<FormatArg> for RecordFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Binary => RecordFormat::Binary,
            FormatArg::Json => RecordFormat::Json,
        }
    }
}

pub async fn store_command(config: Config, command: StoreCommand) -> anyhow::Result<ExitCode> {
    let StoreCommand::Migrate { format } = command;
    let to = RecordFormat::from(format);
    let (store, _) = open_store(&config)?;
    // The marker first: from now on every write is in `to`, so the records rewritten
    // below stay in it (a write that read the old marker just before is found by
    // `keygate doctor` and rewritten by running this again or `doctor --fix`).
    store
        .set_meta(RECORD_FORMAT_META, to.name().as_bytes())
        .await?;
    println!("record format: {to} (the store writes {to} records from now on)");
    let done = store.convert_records(to, true).await?;
    println!("rewritten: {}", done.rewritten);
    println!("already {to}: {}", done.already);
    println!("skipped: {}", done.damaged.len() + done.newer.len());
    for line in skipped(&done) {
        println!("  {line}");
    }
    if done.damaged.is_empty() && done.newer.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// The records left alone, in words.
fn skipped(done: &Converted) -> Vec<String> {
    let damaged = done.damaged.iter().map(|id| {
        format!("key {id}: its stored record is damaged (`keygate doctor --fix` removes it)")
    });
    let newer = done
        .newer
        .iter()
        .map(|(id, v)| codec::newer_format_message(id.as_str(), *v));
    damaged.chain(newer).collect()
}

/// What `keygate doctor` says of the record format: the marker, how many records are in
/// each format, and (with `fix`) the records brought into the marker's format. Returns
/// the problems found.
pub async fn doctor_formats(store: &dyn TokenStore, fix: bool) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let marker = store.get_meta(RECORD_FORMAT_META).await?;
    let to = match RecordFormat::of_marker(marker.as_deref()) {
        Ok(f) => f,
        Err(e) => return Ok(vec![e.to_string()]),
    };
    let census = store.convert_records(to, false).await?;
    let other = match to {
        RecordFormat::Json => RecordFormat::Binary,
        RecordFormat::Binary => RecordFormat::Json,
    };
    let held = format!(
        "{} {to}, {} {other}, {} in a newer format",
        census.already,
        census.rewritten,
        census.newer.len()
    );
    match marker {
        Some(_) => println!("record format: {to} (records: {held})"),
        None if census.already + census.rewritten + census.newer.len() as u64 == 0 => {
            println!("record format: not chosen yet (the first key written makes it binary)")
        }
        None => println!(
            "record format: json, by default: a store of a keygate before record formats \
             (records: {held}); `keygate store migrate --format binary` once every keygate \
             on it is this version or newer"
        ),
    }
    if census.rewritten > 0 && fix {
        let done = store.convert_records(to, true).await?;
        println!("records rewritten into {to}: {}", done.rewritten);
    } else if census.rewritten > 0 {
        problems.push(format!(
            "{} records are {other} while the store writes {to} — run `keygate doctor --fix` \
             (or `keygate store migrate --format {to}`) to rewrite them",
            census.rewritten
        ));
    }
    for (id, v) in &census.newer {
        problems.push(format!(
            "{} — left alone, also by --fix",
            codec::newer_format_message(id.as_str(), *v)
        ));
    }
    Ok(problems)
}
