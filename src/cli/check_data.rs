//! `oncoscope check-data DIR`: what training would find in a Decathlon-layout data set (cases,
//! labels, cases with tumour) and every missing or malformed file, before anything starts.

use std::path::PathBuf;

use anyhow::{Result, bail};

use oncoscope::volume::dataset_check::check_dataset;
use oncoscope::volume::decathlon::Task;

#[derive(clap::Args, Debug)]
pub struct CheckDataArgs {
    /// Data set folder in Decathlon layout (dataset.json, imagesTr/, labelsTr/).
    pub data: PathBuf,
    /// The task it is meant for; a data set of the other organ is reported.
    #[arg(long)]
    pub task: Option<Task>,
}

/// Prints the check; fails when no case is usable, or the data set is of another organ than
/// `--task`.
pub fn run_check_data(args: &CheckDataArgs) -> Result<()> {
    let check = check_dataset(&args.data, args.task, &mut |done, total, id| {
        if done < total {
            eprint!("\rchecking {}/{total} {id}            ", done + 1);
        } else {
            eprintln!();
        }
    })?;
    println!("data set: {}", check.root.display());
    if let Some(name) = &check.name {
        println!("name: {name}");
    }
    if let Some(task) = check.declared_task {
        println!("task: {}", task.organ());
    }
    if let Some(labels) = check.labels_line() {
        println!("labels: {labels}");
    }
    println!("{}", check.summary());
    for problem in check.problems() {
        println!("problem: {problem}");
    }
    if check.usable_cases() == 0 {
        bail!("{}: no usable training case", check.root.display());
    }
    // `train --task` refuses a data set of the other organ: so does its check.
    if let (Some(wanted), Some(declared)) = (args.task, check.declared_task)
        && wanted != declared
    {
        bail!(
            "{}: a {} data set, not {} (train would refuse it)",
            check.root.display(),
            declared.organ(),
            wanted.organ()
        );
    }
    Ok(())
}
