//! Single writes: N creates (`POST`), then a PATCH of each contact created
//! (points and last name), then a DELETE of each, one request at a time,
//! each timed.

use anyhow::{bail, Result};
use reqwest::Method;
use serde_json::Value as Json;

use super::generate;
use super::plan::WritePlan;
use super::results::{Tally, WriteResult};
use super::send;
use crate::client::http::HttpClient;
use crate::client::Reply;
use crate::progress::Progress;
use crate::rng::Rng;

/// Salt of the generator, so that the creates and the import (same seed)
/// do not draw the same contacts.
const SALT: u64 = 0x5349_4E47_4C45;

/// One request, its body made before the clock starts.
struct Write {
    method: Method,
    path: String,
    body: Option<Json>,
}

fn contact_path(id: i64) -> String {
    format!("/api/contacts/{id}/")
}

/// Sends `writes` one after the other, showing each answer to `seen`.
/// Stops at a request without an answer: the API is gone, the rest would
/// only record the same failure.
async fn send_all(
    http: &HttpClient,
    writes: Vec<Write>,
    progress: &Progress,
    mut seen: impl FnMut(&Reply),
) -> (Tally, Result<()>) {
    let mut tally = Tally::default();
    for write in writes {
        let reply = send::json(http, write.method.clone(), &write.path, write.body.as_ref()).await;
        progress.tick();
        tally.add(reply.status, reply.elapsed_ms(), reply.error.as_deref());
        seen(&reply);
        if reply.status == 0 {
            let why = reply.error.as_deref().unwrap_or("connection lost");
            return (tally, Err(anyhow::anyhow!("no answer to {} {} ({why})", write.method, write.path)));
        }
    }
    (tally, Ok(()))
}

/// Runs the three operations, pushing each result into `out` as it ends
/// (so that a run stopped half-way keeps them).
pub async fn run(
    http: &HttpClient,
    plan: &WritePlan,
    variant: &str,
    progress: &Progress,
    out: &mut Vec<WriteResult>,
) -> Result<()> {
    let mut rng = Rng::new(plan.seed ^ SALT);
    let creates = (0..plan.single_writes)
        .map(|i| Write {
            method: Method::POST,
            path: "/api/contacts/".into(),
            body: Some(generate::contact(&mut rng, &plan.marker, generate::with_address(i))),
        })
        .collect();
    let mut ids = Vec::new();
    progress.message("POST /api/contacts/");
    let (tally, outcome) = send_all(http, creates, progress, |r| ids.extend(send::created_id(r))).await;
    let note = format!("{} contacts, every other one with a new address", plan.single_writes);
    push(out, tally, variant, "create", "POST /api/contacts/", note);
    stop_if_lost(outcome, variant)?;

    let patches = ids
        .iter()
        .map(|id| Write {
            method: Method::PATCH,
            path: contact_path(*id),
            body: Some(generate::patch(&mut rng, &plan.marker)),
        })
        .collect();
    progress.message("PATCH /api/contacts/{id}/");
    let (tally, outcome) = send_all(http, patches, progress, |_| ()).await;
    let note = "points and last_name of each contact created".to_string();
    push(out, tally, variant, "update", "PATCH /api/contacts/{id}/", note);
    stop_if_lost(outcome, variant)?;

    let deletes = ids.iter().map(|id| Write { method: Method::DELETE, path: contact_path(*id), body: None }).collect();
    progress.message("DELETE /api/contacts/{id}/");
    let (tally, outcome) = send_all(http, deletes, progress, |_| ()).await;
    let note = "each contact created (its relationship goes with it, its address stays until the cleanup)".to_string();
    push(out, tally, variant, "delete", "DELETE /api/contacts/{id}/", note);
    stop_if_lost(outcome, variant)
}

fn push(out: &mut Vec<WriteResult>, tally: Tally, variant: &str, operation: &str, request: &str, note: String) {
    let mut result = tally.into_result(variant, operation, request);
    result.note = Some(note);
    out.push(result);
}

fn stop_if_lost(outcome: Result<()>, variant: &str) -> Result<()> {
    if let Err(e) = outcome {
        bail!("{e:#} on {variant}: stopping the run");
    }
    Ok(())
}
