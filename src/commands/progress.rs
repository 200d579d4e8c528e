//! What the CLI shows while the library works: a progress bar for searches, a spinner with
//! cargo's latest line while a runner builds (minutes for a target's first build), notes on
//! stderr. Everything the library reports arrives here as events.

use std::time::Duration;

use edgenas_deploy::DeployProgress;
use edgenas_search::{CandidateStatus, SearchEvent, SearchObserver};
use edgenas_targets::BuildProgress;
use indicatif::{ProgressBar, ProgressStyle};

/// Shows runner builds and notes of the deploy steps on stderr.
#[derive(Default)]
pub struct DeployView {
    spinner: Option<ProgressBar>,
    quiet: bool,
}

impl DeployView {
    /// A view that prints only notes and the start and end of builds, for logs.
    pub fn quiet() -> Self {
        DeployView { spinner: None, quiet: true }
    }

    pub fn show(&mut self, progress: &DeployProgress<'_>) {
        match progress {
            DeployProgress::Note(note) => self.println(&format!("note: {note}")),
            DeployProgress::Runner(BuildProgress::Started { target, triple, profile, features }) => {
                let with = if features.is_empty() { String::new() } else { format!(" with {}", features.join(",")) };
                let line = format!(
                    "building the runner for {target} ({triple}, profile {profile}{with}); the first build of a target takes minutes, later ones seconds"
                );
                if self.quiet || !console_is_interactive() {
                    eprintln!("{line}");
                } else {
                    let spinner = ProgressBar::new_spinner();
                    spinner.set_style(
                        ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    spinner.enable_steady_tick(Duration::from_millis(200));
                    spinner.println(line);
                    self.spinner = Some(spinner);
                }
            }
            DeployProgress::Runner(BuildProgress::Cargo(line)) => {
                if let Some(spinner) = &self.spinner {
                    let line = line.trim();
                    if !line.is_empty() {
                        spinner.set_message(line.chars().take(100).collect::<String>());
                    }
                }
            }
            DeployProgress::Runner(BuildProgress::Finished { elapsed, ok }) => {
                if let Some(spinner) = self.spinner.take() {
                    spinner.finish_and_clear();
                }
                eprintln!(
                    "runner build {} after {:.0} s",
                    if *ok { "finished" } else { "failed" },
                    elapsed.as_secs_f64()
                );
            }
        }
    }

    fn println(&self, line: &str) {
        match &self.spinner {
            Some(spinner) => spinner.println(line),
            None => eprintln!("{line}"),
        }
    }
}

fn console_is_interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// The search's progress bar (hidden with `--quiet`), and the deploy view for runner
/// builds before and during the run.
pub struct SearchView {
    bar: ProgressBar,
    deploy: DeployView,
}

impl SearchView {
    pub fn new(show_bar: bool) -> Self {
        let bar = if show_bar { ProgressBar::new(0) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        SearchView { bar, deploy: if show_bar { DeployView::default() } else { DeployView::quiet() } }
    }
}

impl SearchObserver for SearchView {
    fn event(&mut self, event: &SearchEvent<'_>) {
        match event {
            SearchEvent::Started { budget, .. } => self.bar.set_length(*budget as u64),
            SearchEvent::Deploy(progress) => self.deploy.show(progress),
            SearchEvent::Candidate { record, progress, .. } => {
                self.bar.set_position(progress.used as u64);
                self.bar.set_message(format!(
                    "best accuracy {:.3} | front {} | rejected {} | failed {}",
                    progress.best_accuracy, progress.front, progress.rejected, progress.failed
                ));
                if record.status == CandidateStatus::Failed && progress.failed == 1 {
                    let error = record.error.as_deref().unwrap_or("");
                    self.bar.println(format!("warning: candidate {} failed: {error}", record.seq));
                }
            }
            SearchEvent::Finished(_) => self.bar.finish_and_clear(),
        }
    }
}

/// One line on stderr for what the farm's coordinator did.
pub fn farm_event(event: &edgenas_farm::FarmEvent<'_>) {
    use edgenas_farm::FarmEvent;
    match event {
        FarmEvent::WaitingForWorkers { target, have, need } => {
            eprintln!("farm: waiting for workers of `{target}`: {have} of {need} alive")
        }
        FarmEvent::Requeued { job, attempt, reason } => {
            eprintln!("farm: job {job} queued again (delivery {attempt}): {reason}")
        }
        FarmEvent::DeadLettered { job, reason } => eprintln!("farm: job {job} {reason}"),
        FarmEvent::DuplicateIgnored { job } => eprintln!("farm: a second answer to job {job} ignored"),
        FarmEvent::Answered { .. } => {}
    }
}

/// One line on stdout for what a farm worker did.
pub fn worker_event(event: &edgenas_farm::WorkerEvent<'_>) {
    use edgenas_farm::WorkerEvent;
    match event {
        WorkerEvent::Ready { name, target } => println!("worker {name}: serving jobs of `{target}`"),
        WorkerEvent::Measuring { job, attempt } => println!("measuring {job} (delivery {attempt})"),
        WorkerEvent::Answered { job, latency: Some(l), .. } => {
            println!("answered {job}: median {:.4} {}", l.median, l.unit)
        }
        WorkerEvent::Answered { job, error, .. } => println!("answered {job}: failed: {}", error.unwrap_or("?")),
        WorkerEvent::Skipped { job, reason } => println!("skipped {job}: {reason}"),
    }
}
