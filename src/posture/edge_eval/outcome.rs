//! How an edge's TLS comes out once its backend is resolved: plaintext (and its variants) when
//! no policy and no Backend TLS applies, otherwise the policy and Backend TLS settings merged
//! and validated as the implementation does.

use super::super::context::{Context, GatewayCtx};
use super::super::select::Selected;
use super::super::status::{Recorder, cond, pid};
use super::super::trust::{ClientCertOutcome, ca_ref_key, client_cert, resolve_cas, tls_params};
use super::super::{Edge, Mode, Semantics, Trust};
use super::texts::{Reason, TextKey};
use super::{SharedTexts, Site, decided, done};
use crate::model::*;
use std::sync::Arc;

/// No policy and no Backend TLS: plaintext, one of its variants, or passthrough.
pub(super) fn plaintext_outcome(
    texts: &mut SharedTexts,
    e: &mut Edge,
    site: &Site,
    would_be: Option<Selected>,
    blind: Option<&str>,
) {
    if let (Some(w), Some(why)) = (&would_be, blind)
        && !w.policy.legacy_shape
    {
        let key = w.policy.key.clone();
        let reason = texts.text_of(&[
            "policy ",
            &key,
            " targets this backend, but ",
            why,
            ": traffic is plaintext",
        ]);
        e.policy = Some(key);
        return decided(e, Mode::FailOpenPlaintext, reason);
    }
    if let Some(w) = would_be {
        let key = w.policy.key.clone();
        let reason = texts.text_of(&[
            "policy ",
            &key,
            " is written as ",
            w.policy.version.api_version(),
            " in the Gateway API v1.0 shape (spec.targetRef/spec.tls); current controllers watch BackendTLSPolicy v1 only, so it is ignored and traffic is plaintext",
        ]);
        e.policy = Some(key);
        return decided(e, Mode::FailOpenPlaintext, reason);
    }
    if site.passthrough {
        return done(
            texts,
            e,
            Mode::Passthrough,
            "TLSRoute on a Passthrough listener: the client's TLS session reaches the backend untouched",
        );
    }
    // Both texts are decided by the port look (shared: its address tells it) and the listener.
    let look = &e.port_look;
    if look.looks_tls() {
        let key = TextKey {
            which: Reason::PlaintextToTlsPort,
            of: Arc::as_ptr(look) as usize,
            and: 0,
        };
        let reason = texts.text_for(key, |reason| {
            for part in [
                "no BackendTLSPolicy and no Backend TLS: the gateway sends plaintext to a port that looks like TLS (",
                &look.tls,
                "); HTTP backends answer 400 Bad Request, gRPC/h2 backends reset (503)",
            ] {
                reason.push_str(part);
            }
        });
        return decided(e, Mode::PlaintextToTlsPort, reason);
    }
    let key = TextKey {
        which: Reason::Plaintext,
        of: Arc::as_ptr(look) as usize,
        and: usize::from(site.terminates_tls),
    };
    let reason = texts.text_for(key, |reason| {
        reason.push_str("no BackendTLSPolicy and no Backend TLS: plaintext to the backend");
        if !look.maybe_tls.is_empty() {
            reason.push_str(" (the port may serve TLS: ");
            reason.push_str(&look.maybe_tls);
            reason.push(')');
        }
        if site.terminates_tls {
            reason.push_str("; TLS from the client ends at the gateway");
        }
    });
    decided(e, Mode::Plaintext, reason)
}

/// Envoy Gateway's check of a Backend's `spec.tls` block.
pub(super) fn eg_backend_tls_valid(
    ctx: &Context,
    b: &Backend,
    t: &BackendTlsSettings,
) -> Result<(), String> {
    let insecure = t.insecure_skip_verify.unwrap_or(false);
    let has_ca = !t.ca_certificate_refs.is_empty();
    let has_wk = t.well_known_ca_certificates.is_some();
    if has_ca && has_wk {
        return Err("spec.tls sets both caCertificateRefs and wellKnownCACertificates".into());
    }
    if insecure && (has_ca || has_wk) {
        return Err("spec.tls sets insecureSkipVerify together with a CA".into());
    }
    if t.sni.is_some() && t.auto_sni_from_endpoint_hostname == Some(true) {
        return Err("spec.tls sets both sni and autoSNIFromEndpointHostname".into());
    }
    if !insecure && !has_ca && !has_wk {
        // Valid only when a policy with CA settings covers the Backend (matched by name only).
        let ports: Vec<String> = b
            .endpoints
            .iter()
            .filter_map(|e| e.port())
            .map(|p| p.to_string())
            .collect();
        let covered = ctx.policies_naming_backend(&b.meta.name).any(|p| {
            let has_trust = !p.ca_refs.is_empty() || p.well_known.is_some();
            let targets: Vec<&PolicyTarget> = p
                .targets
                .iter()
                .filter(|t| t.kind == "Backend" && t.name == b.meta.name)
                .collect();
            has_trust
                && (targets.iter().any(|t| t.section_name.is_none())
                    || (!targets.is_empty()
                        && !ports.is_empty()
                        && ports.iter().all(|port| {
                            targets
                                .iter()
                                .any(|t| t.section_name.as_deref() == Some(port))
                        })))
        });
        if !covered {
            return Err("spec.tls must specify either caCertificateRefs or wellKnownCACertificates when insecureSkipVerify is unset or false, and no BackendTLSPolicy supplies a CA".into());
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn tls_outcome(
    ctx: &Context,
    rec: &mut Recorder,
    texts: &mut SharedTexts,
    gw: &GatewayCtx,
    site: &Site,
    e: &mut Edge,
    semantics: Semantics,
    chosen: Option<Selected>,
    backend: Option<&Backend>,
    backend_tls: Option<&BackendTlsSettings>,
) {
    let snap = ctx.snap;
    let sds = ctx.opts.eg_sds_secret_refs;
    let ancestor = match semantics {
        Semantics::EnvoyGateway => site.parent_ref,
        Semantics::GatewayApiSpec => &gw.ancestor_ref,
    };
    let controller = &gw.controller;
    let mut trust = Trust::None;
    let mut sni = None;
    let mut sans = texts.empty().sans.clone();
    if let Some(sel) = chosen {
        let p = sel.policy;
        let policy_key = &p.key;
        e.policy = Some(policy_key.clone());
        let target = &p.targets[sel.target_index];
        // Decided by the policy and which of its targets.
        let key = TextKey {
            which: Reason::PolicyTarget,
            of: pid(p),
            and: sel.target_index,
        };
        let how = texts.text_for(key, |how| {
            let parts: &[&str] = match &target.section_name {
                Some(s) => &[
                    "policy ",
                    policy_key,
                    " targets ",
                    &target.kind,
                    " ",
                    &target.name,
                    " section ",
                    s,
                ],
                None => &[
                    "policy ",
                    policy_key,
                    " targets the whole ",
                    &target.kind,
                    " ",
                    &target.name,
                ],
            };
            for part in parts {
                how.push_str(part);
            }
        });
        e.reasons.push(how);
        // Validate the policy as the implementation does.
        let mut error: Option<(String, Option<&'static str>, String)> = None;
        if !p.problems.is_empty() {
            error = Some(("Invalid".into(), None, p.problems.join("; ")));
        }
        if error.is_none()
            && let Some(w) = &p.well_known
            && w != "System"
        {
            error = Some(match semantics {
                Semantics::EnvoyGateway => (
                    "NoValidCACertificate".into(),
                    Some("InvalidKind"),
                    format!("unsupported wellKnownCACertificates {w}"),
                ),
                Semantics::GatewayApiSpec => (
                    "Invalid".into(),
                    None,
                    format!("unsupported wellKnownCACertificates {w}"),
                ),
            });
        }
        let cas = ctx.policy_cas(p, semantics);
        if error.is_none()
            && let Some(cas) = cas
        {
            let res = &cas.resolution;
            e.ca_ref_states = res.states.clone();
            if let Some(err) = &res.error {
                error = Some((
                    err.accepted_reason.into(),
                    err.resolved_reason,
                    err.message.clone(),
                ));
            } else if let Some((reason, msg)) = &res.partial {
                rec.record(
                    p,
                    sel.target_index,
                    ancestor,
                    controller,
                    semantics,
                    vec![
                        cond("Accepted", true, "Accepted", "Policy has been accepted."),
                        cond("ResolvedRefs", false, reason, msg),
                    ],
                );
                let reason =
                    texts.text_of(&["some CA references of ", policy_key, " are invalid: ", msg]);
                e.reasons.push(reason);
            }
        }
        if let Some((accepted_reason, resolved_reason, msg)) = error {
            let mut conds = vec![cond("Accepted", false, &accepted_reason, &msg)];
            if let Some(r) = resolved_reason {
                conds.push(cond("ResolvedRefs", false, r, &msg));
            }
            rec.record(p, sel.target_index, ancestor, controller, semantics, conds);
            e.ca_refs = cas.map_or_else(|| texts.empty().ca_refs.clone(), |c| c.keys.clone());
            let effect = match (
                semantics,
                site.route_kind.is_none_or(RouteKind::is_http_family),
            ) {
                (Semantics::EnvoyGateway, true) => {
                    "requests get HTTP 500 (route ResolvedRefs=False/InvalidBackendTLS)"
                }
                (_, true) => "requests get HTTP 5xx",
                (_, false) => "connections are reset",
            };
            return done(
                texts,
                e,
                Mode::FailClosed,
                format!(
                    "policy {} is invalid ({accepted_reason}: {msg}); TLS cannot be set up and {effect}",
                    policy_key
                ),
            );
        }
        if !rec.has(p, ancestor, controller) {
            rec.record(
                p,
                sel.target_index,
                ancestor,
                controller,
                semantics,
                vec![
                    cond(
                        "ResolvedRefs",
                        true,
                        "ResolvedRefs",
                        "Resolved all the Object references.",
                    ),
                    cond("Accepted", true, "Accepted", "Policy has been accepted."),
                ],
            );
        } else {
            rec.count_use(p, sel.target_index);
        }
        if target.section_name.is_none()
            && target.kind == "Service"
            && let Some(svc) = snap.service(&target.kind, &p.meta.namespace, &target.name)
            && svc.ports.len() > 1
            && !e.port_look.looks_tls()
        {
            let port = e.backend.rsplit(':').next().unwrap_or_default().to_string();
            let note = texts.text(format!(
                "policy {} covers every port of Service {}, including port {port}, which does not look like TLS: make sure it serves TLS, or give the policy a sectionName",
                policy_key, target.name
            ));
            e.reasons.push(note.clone());
            e.broad_policy_note = Some(note);
        }
        sni = (!p.hostname.is_empty()).then(|| p.hostname.clone());
        if !p.sans.is_empty() {
            sans = p.sans.clone();
        }
        if p.well_known.is_some() {
            trust = Trust::System;
            e.ca_ref_states = texts.empty().ca_ref_states.clone();
        } else {
            trust = Trust::CaRefs;
            e.ca_refs = cas.map_or_else(|| texts.empty().ca_refs.clone(), |c| c.keys.clone());
        }
    }
    // Envoy Gateway Backend TLS, merged under the policy (the policy wins, except insecureSkipVerify).
    let mut insecure = false;
    if let (Some(b), Some(t)) = (backend, backend_tls) {
        insecure = t.insecure_skip_verify.unwrap_or(false);
        if sni.is_none() {
            sni = t.sni.as_deref().map(Arc::from);
            e.auto_sni = t.auto_sni_from_endpoint_hostname.unwrap_or(false);
        }
        if trust == Trust::None {
            if t.well_known_ca_certificates.as_deref() == Some("System") {
                trust = Trust::System;
            } else if t.well_known_ca_certificates.is_some() {
                return done(
                    texts,
                    e,
                    Mode::FailClosed,
                    format!(
                        "Backend {}/{} has unsupported wellKnownCACertificates",
                        b.meta.namespace, b.meta.name
                    ),
                );
            } else if !t.ca_certificate_refs.is_empty() {
                let res = resolve_cas(
                    snap,
                    semantics,
                    &b.meta.namespace,
                    &t.ca_certificate_refs,
                    sds,
                );
                e.ca_ref_states = res.states;
                e.ca_refs = t
                    .ca_certificate_refs
                    .iter()
                    .map(|r| ca_ref_key(r, &b.meta.namespace))
                    .collect();
                if let Some(err) = res.error {
                    return done(
                        texts,
                        e,
                        Mode::FailClosed,
                        format!(
                            "Backend {}/{} CA cannot be loaded: {}; requests get HTTP 500",
                            b.meta.namespace, b.meta.name, err.message
                        ),
                    );
                }
                trust = Trust::CaRefs;
            }
        }
        if chosen.is_none() {
            let reason = texts.text_of(&[
                "Backend ",
                &b.meta.namespace,
                "/",
                &b.meta.name,
                " sets spec.tls",
            ]);
            e.reasons.push(reason);
        }
    }
    // Telemetry sinks take their SNI from a Backend's single FQDN endpoint.
    if sni.is_none()
        && site.owner_kind == "EnvoyProxy"
        && let Some(b) = backend
        && let [only] = b.endpoints.as_slice()
        && let Some(f) = &only.fqdn
    {
        sni = Some(f.hostname.as_str().into());
    }
    e.sni = sni;
    e.sans = sans;
    e.insecure_skip_verify = insecure;
    if !insecure && trust == Trust::None {
        return done(
            texts,
            e,
            Mode::FailClosed,
            "TLS is required but no CA and no system trust is configured; requests get HTTP 500",
        );
    }
    e.trust = if insecure { Trust::None } else { trust };
    if let Some(missing) = &gw.proxy_missing {
        let reason = texts.text_of(&[
            missing,
            " is referenced but not found: its backendTLS settings do not apply",
        ]);
        e.reasons.push(reason);
    }
    let (min, max, alpn) = tls_params(gw, backend, semantics);
    (e.min_version, e.max_version, e.alpn) = (min, max, alpn);
    match client_cert(snap, gw, backend, semantics, sds) {
        ClientCertOutcome::None => {}
        ClientCertOutcome::Present(cc) => e.client_cert = Some(Arc::new(cc)),
        ClientCertOutcome::Fatal(cc, why) => {
            e.client_cert = Some(Arc::new(cc));
            return done(
                texts,
                e,
                Mode::FailClosed,
                format!(
                    "client certificate cannot be loaded: {why} (route ResolvedRefs=False/InvalidBackendTLS); requests get HTTP 500 although the policy reports Accepted"
                ),
            );
        }
        ClientCertOutcome::Dropped(cc, why) => {
            let warning = texts.text(format!(
                "mTLS intended by {} but no client certificate is sent: {why}",
                cc.source
            ));
            e.reasons.push(warning.clone());
            e.client_cert_warning = Some(warning);
            e.client_cert = Some(Arc::new(cc));
        }
    }
    e.mtls = e.client_cert.as_ref().is_some_and(|c| c.resolved);
    if site.passthrough {
        e.double_tls = true;
        e.reasons.push(texts.text("TLSRoute on a Passthrough listener: the gateway wraps the client's TLS in a second TLS session; the backend will most likely reject it"));
    }
    if !e.port_look.plain.is_empty() && e.port_look.tls.is_empty() {
        let reason = texts.text_of(&[
            "TLS is sent to a port that looks plaintext (",
            &e.port_look.plain,
            "): expect a handshake failure (503) unless it serves TLS",
        ]);
        e.reasons.push(reason);
    }
    if e.sni.is_none() && !e.auto_sni && site.route_kind.is_none_or(RouteKind::is_http_family) {
        e.reasons.push(texts.text("no SNI configured: Envoy sends the client's Host header as SNI and checks the certificate against it"));
    }
    if insecure {
        let what = match &e.policy {
            Some(p) => format!(" even though policy {p} is accepted"),
            None => String::new(),
        };
        return done(
            texts,
            e,
            Mode::TlsUnverified,
            format!(
                "Backend sets tls.insecureSkipVerify: the server certificate is not verified{what}"
            ),
        );
    }
    let why = texts.text_with(|why| {
        why.push_str("TLS verified against ");
        match e.trust {
            Trust::System => why.push_str("the system trust store"),
            _ => push_joined(why, e.ca_refs.iter().map(String::as_str)),
        }
        if !e.sans.is_empty() {
            why.push_str(" for SANs ");
            push_joined(why, e.sans.iter().map(|s| s.value()));
        } else if let Some(sni) = &e.sni {
            why.push_str(" for ");
            why.push_str(sni);
        }
        if e.mtls {
            why.push_str(", presenting the client certificate from ");
            why.push_str(e.client_cert.as_ref().map_or("", |c| c.source.as_str()));
        }
    });
    decided(e, Mode::TlsVerified, why)
}

/// Appends `items` to `text`, separated by `, `.
fn push_joined<'a>(text: &mut String, items: impl Iterator<Item = &'a str>) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str(item);
    }
}
