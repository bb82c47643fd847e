//! Background work for the viewer: three worker threads (files and meshes; the models;
//! training) that take [`Request`]s and send back [`Event`]s, so the UI thread never blocks.
//!
//! Every job reports progress, can be cancelled through its [`CancelToken`] (cancellation is
//! not an error) and has panics caught and turned into a [`Event::Failed`] message. Large data
//! moves as `Arc`. The ML thread runs its networks on a pool of lower-priority threads, so
//! the UI thread wins the CPU while they run. Headless: the UI passes a `notify` callback (egui's `request_repaint`).

mod priority;
mod requests;
mod training;
mod worker;

pub use requests::{
    AnalysisRequest, Event, JobKind, LabelSource, Request, ShownLayers, TrainingPreview,
    TrainingRequest,
};
pub use training::run_dir_of;
pub use worker::{VIEWER_MIN_LESION_ML, Workers};

pub use crate::model::progress::CancelToken;
