"""``kubectl uplift VERB [KIND/]NAME``: read and steer UpliftModels and Campaigns from kubectl.

Why it shells out to ``kubectl``: the plugin runs under kubectl anyway, so reusing it gives the
user's kubeconfig, context, namespace and auth plugins for free (and kubectl's global flags,
``--as``, ``--user``, ``--request-timeout``, ..., passed on as given: ``split_kubectl_flags``),
and keeps the plugin free of the Kubernetes Python client (about a second to import). It
imports only the standard library and ``domain.requests`` (the annotation contract the operator
reads), so it starts in a fraction of a second and can ship as a single file
(``uplift_operator.plugin.bundle``).

Every action is declarative and the same for both kinds, whose ramps run on one step machine
(``domain.steps``): promote, abort, retry and rollback write a request annotation with a fresh
token, which the operator acts on once and records in ``status.handledRequests``; pause and
resume set the ramp's ``paused`` field, ``spec.rollout.paused`` of an UpliftModel or
``spec.exposure.paused`` of a Campaign. ``status`` compares the request annotations with
``status.handledRequests`` as the operator does, so a request written and not acted on yet (the
operator down) shows as pending. The request verbs read the object first: one annotation holds
one request per key, so ``promote`` written over a pending ``promote --full`` replaces it (the
operator only ever reads the last value); they say so on stderr, naming the value replaced, and
still write it (exit 0: refusing would block an on-call's second ``abort`` while the operator is
down, and a replaced abort or rollback asks for the same). ``resume`` of a ramp that field does
not pause writes nothing: exit 0 when the operator has not acted on that spec yet (the resume is
written, its pass to come), else exit 3: a ramp its gates hold Paused (an inconclusiveLimit) goes
on by the verbs its phase message names, and a "paused set to false" would read as done.

Each request is written with its companions in the same patch, which the operator puts in the
history entry of the action it takes: ``uplift.dev/requested-by``, the user ``kubectl auth
whoami`` names (else the kubeconfig context's user, marked as such; left out, never a failure,
when neither answers: ``Kubectl.user``), and ``uplift.dev/request-reason``, ``--reason TEXT``.
Either absent is written null: one an earlier request left is not taken for this one's.

That spec field belongs to Git in a GitOps setup: Argo CD's self-heal reverts a ``paused`` that
Git also declares (an on-call pause silently resumes), and under server-side apply a value Git
declared once stays owned by ``kubectl-patch`` after Git drops it (the ramp stays paused while
Git shows nothing). So pause and resume refuse, unless ``--force``, an object carrying a GitOps
controller's tracking mark (``GITOPS_MARKS``) and say to commit the field to Git. The request
annotations are not refused: the operator acts on each token once, and they do not belong in
Git. When Git holds one all the same (the key is in the object's
``kubectl.kubernetes.io/last-applied-configuration``, or owned in ``managedFields`` by a
manager that declares it, such as ``argocd-controller``: ``declared_by``), the request is
written and a warning on stderr says that Git's value comes back at the next sync or
self-heal, which the operator ignores as a token handled before (a Warning event
``RequestReplayed``): the request belongs out of Git. The read before the request asks for
``managedFields`` (``--show-managed-fields``: ``kubectl get -o json`` leaves them out
otherwise, and a server-side apply, Argo CD's ``ServerSideApply=true`` or Flux, leaves no
last-applied annotation).

``status`` shows the last ``HISTORY_SHOWN`` history entries and every rollback before them,
says how many it leaves out (with the ``kubectl get`` that shows them) and how many the operator
dropped (``status.historyTrimmed``), and each entry's level as the level after the decision (a
rollback's, from the level before it). It reads the status field by field: a shape it does not
expect (an older or newer operator's, a hand edit) shows ``-`` where a field is missing, and a
summary that fails all the same is one line and the ``kubectl get -o yaml`` to read it, exit 1.

What it prints comes from the cluster (status messages quote MLflow's and Prometheus' error
texts, a registered model's name, an API server's error), so no text of it reaches the terminal
as is. Each line of a summary, and each value quoted in a message, goes through ``one_line``
before the layout joins the lines: a line break, carriage return or tab inside a field shows as
``\\n``, ``\\r``, ``\\t`` and any other C0 or C1 control character as ``\\xNN``, so a
message cannot start a line of its own (a forged ``Paused:`` line). What kubectl itself writes
to stderr (its errors, an API server's ``Warning:`` lines) keeps its line breaks and goes through
``printable``, which shows every other control character as ``\\xNN``: never sent to the
terminal, where an escape sequence could rewrite what the reader sees (a status line, the window
title) or, on some terminals, answer back as typed input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from uplift_operator.domain import requests as contract

__all__ = ["GITOPS_MARKS", "VERBS", "declared_by", "describe", "gitops_mark", "main", "one_line",
           "patch_for", "printable", "render_campaign", "render_status"]

# verb -> one-line help; ``--help`` lists exactly these. Each works on both kinds.
VERBS: dict[str, str] = {
    "status": "phase and why, ramp, gates, history; a Campaign's exposure, effect, ROI, spend",
    "promote": "advance the ramp one step (--full: complete the ramp now)",
    "abort": "roll back and stay there (the canary gets no traffic, or exposure goes to 0%)",
    "retry": "start again from the first step an aborted or rolled-back canary, or one its "
             "gates hold Paused for a human (a gate past its inconclusiveLimit, a pending Manual "
             "rollback), or a rolled-back campaign (during an emergency rollback's restore: "
             "withdraw it)",
    "rollback": "emergency rollback past the gates (canary off or previous stable back; "
                "exposure 0%)",
    "pause": "hold the ramp where it is (sets spec.rollout.paused or spec.exposure.paused; "
             "refused on an object applied from Git unless --force)",
    "resume": "continue the ramp (clears that field; refused the same way). When the field is "
              "already false, writes nothing: exit 0 if the operator has not acted on it yet, "
              "else exit 3 (a ramp held by its gates goes on by the verbs its phase message "
              "names)",
}
#: (metadata block, key) of the marks a GitOps controller leaves on what it applies from Git:
#: Argo CD's annotation tracking, its label tracking (the default before Argo CD 3.0; Helm
#: sets the label too, so a Helm-only object needs ``--force``), Flux's kustomize and Helm
#: controllers.
GITOPS_MARKS: tuple[tuple[str, str], ...] = (
    ("annotations", "argocd.argoproj.io/tracking-id"),
    ("labels", "app.kubernetes.io/instance"),
    ("labels", "kustomize.toolkit.fluxcd.io/name"),
    ("labels", "helm.toolkit.fluxcd.io/name"),
)
#: Any label or annotation under Argo CD's own prefix marks an object from Git too: its label
#: tracking under the key Argo CD's docs suggest (``application.instanceLabelKey:
#: argocd.argoproj.io/instance``, clear of Helm's label), and the sync options a manifest
#: carries for Argo CD (``argocd.argoproj.io/sync-wave``, ``…/sync-options``).
ARGOCD_PREFIX = "argocd.argoproj.io/"
# The spec block that holds a kind's ramp (and so its ``paused`` field).
RAMP_FIELDS = {"upliftmodel": "rollout", "campaign": "exposure"}
KINDS = {"upliftmodel": "upliftmodels.uplift.dev", "campaign": "campaigns.uplift.dev"}
#: The names kubectl takes for each kind, as its CRD declares them (``crds/``: the kind, its
#: singular, plural and shortNames, in any case), bare or qualified as kubectl qualifies them
#: (``upliftmodel.uplift.dev``, ``upliftmodels.v1alpha1.uplift.dev``): what works in
#: ``kubectl get`` works here.
_NAMES = {"upliftmodel": ("upliftmodel", "upliftmodels", "um", "umodel"),
          "campaign": ("campaign", "campaigns", "camp")}
_GROUP, _VERSIONS = "uplift.dev", ("v1alpha1",)
_ALIASES = {f"{name}{qualified}": kind for kind, names in _NAMES.items() for name in names
            for qualified in ("", f".{_GROUP}", *(f".{v}.{_GROUP}" for v in _VERSIONS))}


#: Every C0 and C1 control character but the line break and the tab (which the layout uses),
#: DEL included, to its visible escape.
_VISIBLE = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7f, 0xa0))
            if code not in (0x09, 0x0a)}


#: Within one field or one line of the layout: the line break and the tab too, and the carriage
#: return by its name (a field may quote a multi-line error text).
_ONE_LINE = {**_VISIBLE, 0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r"}


def printable(text: str) -> str:
    """``text`` with each control character but a line break or a tab as ``\\xNN``: what the
    plugin prints comes from the cluster, and an escape sequence in it must reach the reader's
    eyes, not their terminal. For text kubectl wrote, whose lines are its own."""
    return text.translate(_VISIBLE)


def one_line(text: str) -> str:
    """``text`` on one line: a line break, carriage return or tab as ``\\n``, ``\\r``, ``\\t``,
    every other control character as ``\\xNN``. For each field (or each line of a summary)
    from the cluster before the layout joins lines: a line break in a status message must not
    start a line of its own, which could read as the summary's (a forged ``Paused:`` line)."""
    return text.translate(_ONE_LINE)


def _layout(lines: Sequence[str]) -> str:
    """The summary's lines, each on one line (``one_line``) whatever its fields hold."""
    return "\n".join(one_line(line) for line in lines)


class PluginError(Exception):
    """A failure to report on stderr with exit code ``code`` (1)."""

    code = 1


class AlreadyAskedError(PluginError):
    """A verb whose change is already written and waits for the operator (``resume`` with the
    spec's ``paused`` false in a generation the operator has not acted on): said on stdout,
    nothing written, exit code 0: the desired state is there."""

    code = 0


class NothingToDoError(PluginError):
    """A verb that would change nothing (``resume`` of a ramp its spec does not pause): said on
    stderr, nothing written, exit code 3 (``EXIT_CODES``)."""

    code = 3


#: The exit codes, as ``--help`` and docs/operator.md list them.
EXIT_CODES = {
    0: "done (status printed, or the request or spec field written; a resume already written "
       "that the operator has not acted on yet)",
    1: "failed: kubectl's error (not found, forbidden, ...), its output not the object's JSON, "
       "a status the summary cannot read, or a refusal (an object applied from Git)",
    2: "usage: an unknown verb or flag, a flag the verb does not take (--full, --force, "
       "--reason), a NAME that is not NAME, upliftmodel/NAME or campaign/NAME",
    3: "nothing to do, nothing written: resume of a ramp its spec does not pause",
}
#: kubectl's global flags (``kubectl options``) the plugin passes on to every kubectl call, as
#: given (``--as=NAME`` or ``--as NAME``): impersonation, cluster, user and credentials,
#: timeouts, logging. ``-n``/``--namespace``, ``--context`` and ``--kubeconfig`` are the
#: plugin's own options and reach kubectl the same way.
KUBECTL_VALUE_FLAGS = frozenset({
    "--as", "--as-group", "--as-uid", "--cache-dir", "--certificate-authority",
    "--client-certificate", "--client-key", "--cluster", "--log-flush-frequency", "--password",
    "--profile", "--profile-output", "--request-timeout", "-s", "--server", "--tls-server-name",
    "--token", "--user", "--username", "-v", "--v", "--vmodule"})
#: kubectl's boolean global flags: ``--flag`` or ``--flag=false``, never a separate value.
KUBECTL_BOOL_FLAGS = frozenset({"--disable-compression", "--insecure-skip-tls-verify",
                                "--match-server-version", "--warnings-as-errors"})
# The verbs each flag of the plugin's own changes; any other verb refuses it (it would be
# silently ignored).
_FLAG_VERBS = {"full": ("promote",), "force": ("pause", "resume"),
               "reason": ("promote", "abort", "retry", "rollback")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        passed, rest = split_kubectl_flags(list(sys.argv[1:] if argv is None else argv))
    except ValueError as error:
        parser.error(str(error))
    args = parser.parse_args(rest)
    for flag, verbs in _FLAG_VERBS.items():
        if getattr(args, flag) and args.verb not in verbs:
            parser.error(f"--{flag} applies to {' and '.join(verbs)} only, not {args.verb}")
    try:
        kind, name = _target(args.name)
    except ValueError as error:
        parser.error(str(error))
    try:
        kubectl = Kubectl(args.kubeconfig, args.context, args.namespace, passed)
        return _run(kubectl, args.verb, kind, name, full=args.full, force=args.force,
                    reason=args.reason)
    except PluginError as error:
        message = str(error)
        if "(NotFound)" in message:
            message += _not_found_hint(kind, name, bare="/" not in args.name,
                                       namespace=args.namespace)
        print(printable(f"kubectl uplift: {message}"),
              file=sys.stdout if error.code == 0 else sys.stderr)
        return error.code


def _not_found_hint(kind: str, name: str, *, bare: bool, namespace: str | None) -> str:
    """Where kubectl looked, and the other places the object may be: the other kind (a bare
    NAME is an UpliftModel), another namespace."""
    where = f"namespace {namespace}" if namespace else "the context's namespace"
    looked = ("an UpliftModel (a bare NAME is one)" if bare
              else "an UpliftModel" if kind == "upliftmodel" else "a Campaign")
    other = (f"a Campaign? use campaign/{name}" if kind == "upliftmodel"
             else f"an UpliftModel? use upliftmodel/{name}")
    return (f"\n  looked for {looked} in {where}: {other}; in another namespace? add "
            "-n NAMESPACE")


def _run(kubectl: Kubectl, verb: str, kind: str, name: str, *, full: bool, force: bool,
         reason: str | None = None) -> int:
    if verb == "status":
        body = kubectl.get(KINDS[kind], name)
        print(printable(_rendered(body, kind, name, kubectl)))
        return 0
    replaced: contract.ManualRequest | None = None
    others: list[contract.ManualRequest] = []  # pending requests of other keys
    read: dict[str, Any] = {}
    declared: list[str] = []  # what declares the request's key besides one-off writes
    unread = ""  # why the object could not be read for a pending request
    if verb == "resume":
        # Read even with --force: a ramp its spec does not pause has nothing to resume.
        body = kubectl.get(KINDS[kind], name)
        _refuse_if_not_paused(body, kind)
        if not force:
            _refuse_if_from_git(body, kind, verb)
    elif verb == "pause" and not force:
        _refuse_if_from_git(kubectl.get(KINDS[kind], name), kind, verb)
    if verb in ("pause", "resume"):
        patch = patch_for(verb, full, kind)
    else:
        # One annotation holds one request: a pending one of the same key is replaced.
        key = REQUEST_KEYS[verb]
        try:
            # With managedFields: what owns the key there declares it (``declared_by``).
            read = kubectl.get(KINDS[kind], name, managed_fields=True)
        except PluginError as error:
            if "(NotFound)" in str(error):
                raise  # the patch would fail alike: say so once, with its hints
            # A role that may patch and not get, an API server answering 5xx or 429 to this
            # read, a timeout: the request is never blocked by the check (an abort in an
            # incident is written as before the check existed).
            why = ("not allowed to read" if "(Forbidden)" in str(error) else "could not read")
            unread = (f"kubectl uplift: {why} {kind}/{name} to check for a pending "
                      f"{key}, written without that check: {error}")
        else:
            replaced = next((r for r in _pending(read) if r.key == key), None)
            declared = declared_by(read, key)
            others = [r for r in _pending(read) if r.key != key]
        # Who asks: never a reason not to write the request (None: written without it).
        patch = patch_for(verb, full, kind, requested_by=kubectl.user(), reason=reason)
    body = kubectl.merge_patch(KINDS[kind], name, patch)
    meta = body.get("metadata") or {}
    where = one_line(f"{kind} {meta.get('namespace', '?')}/{meta.get('name', name)}")
    print(printable(f"{where}: {describe(patch)}"))
    if unread:
        print(printable(unread), file=sys.stderr)
    if verb not in ("pause", "resume"):
        for line in _companion_notes(where, patch, reason, read, others):
            print(printable(line), file=sys.stderr)
    if replaced is not None:
        print(printable(
            f"kubectl uplift: {where}: this replaces the pending request "
            f"{one_line(replaced.key)}={one_line(_clipped(replaced.token))}, written and not "
            "acted on yet: the operator acts on the value written last only"),
            file=sys.stderr)
    if declared:
        print(printable(
            f"kubectl uplift: {where}: warning: {one_line(key)} is also declared by "
            f"{one_line(' and '.join(declared))}: Git (or whatever applies the manifest) "
            "holds it and puts its value back at the next sync or self-heal; the operator "
            "ignores that value as a token handled before (Warning event RequestReplayed), "
            f"but remove {one_line(key)} from the manifest: request annotations do not "
            "belong in Git"), file=sys.stderr)
    return 0


#: The field managers that write a request annotation once, by hand: the plugin's ``kubectl
#: patch``, the runbooks' ``kubectl annotate --overwrite``, a ``kubectl edit``. Any other
#: manager owning the key (``argocd-controller``, ``kubectl-client-side-apply``, server-side
#: apply's ``kubectl``, a Flux or Helm controller) declares it: it writes it again.
ONE_OFF_MANAGERS = frozenset({"kubectl-patch", "kubectl-annotate", "kubectl-edit"})
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def declared_by(body: dict[str, Any], key: str) -> list[str]:
    """What declares the annotation ``key`` on ``body`` and so puts its value back: the
    ``kubectl.kubernetes.io/last-applied-configuration`` annotation of a client-side apply
    (``kubectl apply``, Argo CD's default sync) holding it, and each ``managedFields`` manager
    but ``ONE_OFF_MANAGERS`` owning it (Argo CD's ``argocd-controller``, server-side apply).
    Empty when nothing does; what does not parse declares nothing. ``body`` read with
    ``Kubectl.get(..., managed_fields=True)``: without, kubectl leaves managedFields out."""
    meta = body.get("metadata") or {}
    found: list[str] = []
    last = (meta.get("annotations") or {}).get(LAST_APPLIED)
    try:
        applied = json.loads(last) if isinstance(last, str) else None
    except ValueError:
        applied = None
    applied_meta = applied.get("metadata") if isinstance(applied, dict) else None
    applied_annotations = (applied_meta.get("annotations")
                           if isinstance(applied_meta, dict) else None)
    if isinstance(applied_annotations, dict) and key in applied_annotations:
        found.append(f"annotation {LAST_APPLIED}")
    for entry in meta.get("managedFields") or []:
        if not isinstance(entry, dict):
            continue
        manager = entry.get("manager")
        fields = entry.get("fieldsV1")
        owned = (fields.get("f:metadata") if isinstance(fields, dict) else None)
        owned = owned.get("f:annotations") if isinstance(owned, dict) else None
        if (isinstance(manager, str) and manager not in ONE_OFF_MANAGERS
                and isinstance(owned, dict) and f"f:{key}" in owned):
            shown = f"managedFields manager {manager}"
            if shown not in found:
                found.append(shown)
    return found


def split_kubectl_flags(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(kubectl's global flags in ``argv``, each as given, in order; the plugin's arguments).

    A flag of ``KUBECTL_VALUE_FLAGS`` takes its value after ``=`` or as the next argument (as
    kubectl does, whatever that argument looks like), a short one attached too (``-v6``); one of
    ``KUBECTL_BOOL_FLAGS`` takes only ``=value``. Nothing after ``--`` is a flag. ValueError
    when a flag's value is missing."""
    passed: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest += [arg, *args]
            break
        flag, equals, _ = arg.partition("=")
        if flag in KUBECTL_BOOL_FLAGS or (flag in KUBECTL_VALUE_FLAGS and equals):
            passed.append(arg)
        elif flag in KUBECTL_VALUE_FLAGS:
            value = next(args, None)
            if value is None:
                raise ValueError(f"kubectl's {arg} needs a value")
            passed += [arg, value]
        elif arg[:2] in ("-s", "-v") and len(arg) > 2:
            passed.append(arg)  # -v6, -shttps://api:6443
        else:
            rest.append(arg)
    return passed, rest


def _parser() -> argparse.ArgumentParser:
    verbs = "\n".join(f"  {verb:<9} {text}" for verb, text in VERBS.items())
    codes = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    flags = ", ".join(sorted(KUBECTL_VALUE_FLAGS, key=lambda f: f.lstrip("-")))
    booleans = ", ".join(sorted(KUBECTL_BOOL_FLAGS, key=lambda f: f.lstrip("-")))
    parser = argparse.ArgumentParser(
        prog="kubectl uplift", formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s VERB [KIND/]NAME [-n NS] [--context CTX] [--kubeconfig FILE] [--full] "
              "[--force] [--reason TEXT] [kubectl's global flags]",
        description="Read and steer UpliftModels and Campaigns (uplift.dev).",
        epilog=f"verbs (UpliftModels and Campaigns alike):\n{verbs}\n\n"
               "NAME is an UpliftModel name, upliftmodel/NAME or campaign/NAME.\n\n"
               "kubectl's global flags pass through to kubectl (--flag=value or --flag "
               f"value):\n  {flags}\n"
               "and its boolean ones (--flag or --flag=value only, never --flag value):\n"
               f"  {booleans}\n\nexit codes:\n{codes}")
    parser.add_argument("verb", choices=list(VERBS), metavar="VERB", help="one of the verbs below")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("-n", "--namespace", default=None,
                        help="namespace (default: the kubeconfig context's namespace)")
    parser.add_argument("--context", default=None, help="kubeconfig context to use")
    parser.add_argument("--kubeconfig", default=None, help="path to the kubeconfig file")
    parser.add_argument("--full", action="store_true",
                        help="promote only: skip the remaining steps and complete the ramp now")
    parser.add_argument("--reason", default=None, metavar="TEXT",
                        help="promote, abort, retry, rollback: why, in words (written as "
                             f"{contract.REQUEST_REASON_ANNOTATION}, at most "
                             f"{contract.REQUEST_REASON_MAX} characters; the operator puts it "
                             "in the history entry of the action it takes)")
    parser.add_argument("--force", action="store_true",
                        help="pause/resume only: write the spec field even on an object a GitOps "
                             "controller applies from Git (which may revert it or keep it)")
    return parser


def gitops_mark(body: dict[str, Any]) -> str | None:
    """The first GitOps tracking mark ``body`` carries (``label app.kubernetes.io/instance``),
    None when it carries none."""
    meta = body.get("metadata") or {}
    for block, key in GITOPS_MARKS:
        if key in (meta.get(block) or {}):
            return f"{block[:-1]} {key}"
    for block in ("annotations", "labels"):
        for key in sorted(meta.get(block) or {}):
            if key.startswith(ARGOCD_PREFIX):
                return f"{block[:-1]} {key}"
    return None


def _refuse_if_from_git(body: dict[str, Any], kind: str, verb: str) -> None:
    mark = gitops_mark(body)
    if mark is None:
        return
    field = f"spec.{RAMP_FIELDS[kind]}.paused"
    name = one_line(str((body.get("metadata") or {}).get("name", "?")))
    raise PluginError(
        f"{kind}/{name} carries the {one_line(mark)}: it is applied from Git, which reverts "
        f"{field} (self-heal) or keeps it after Git drops it (server-side apply). Commit "
        f"{field}: {str(verb == 'pause').lower()} to Git instead, or pass --force to write it "
        "here anyway.")


def _refuse_if_not_paused(body: dict[str, Any], kind: str) -> None:
    """Nothing to resume unless the spec pauses the ramp.

    ``status.pausedAt`` is set by the spec's pause too, and cleared only by the operator's
    next pass: with the spec's ``paused`` false in a generation the operator has not acted on
    (``_unobserved``: a second ``resume``, or one after Argo CD wrote false), the resume is
    already written and waits for that pass (``AlreadyAskedError``, exit 0). Only once the
    operator has acted on the current generation is a ramp still Paused held by itself (a
    gate's inconclusiveLimit, a pending Manual rollback of a gate verdict, ...): it goes on
    by the verbs that act on that hold, which its phase message names (a fixed list offered
    retry for holds a retry ignores); a "set to false" would read as done."""
    field = f"spec.{RAMP_FIELDS[kind]}.paused"
    if _dict(_dict(body.get("spec")).get(RAMP_FIELDS[kind])).get("paused", False) is True:
        return
    meta, status = _dict(body.get("metadata")), _dict(body.get("status"))
    where = one_line(f"{kind} {meta.get('namespace', '?')}/{meta.get('name', '?')}")
    said = f"{where}: {field} is already false, so resume changes nothing (nothing written)"
    if not status.get("pausedAt"):
        raise NothingToDoError(f"{said}: the ramp is not paused "
                               f"(phase {one_line(str(status.get('phase', '-')))})")
    unobserved = _unobserved(meta, status)
    if unobserved is not None:
        raise AlreadyAskedError(
            f"{where}: resume already written ({field} false); {unobserved}. Nothing written; "
            "`kubectl uplift status` shows the ramp once it has.")
    message = one_line(str(status.get("message") or "")).rstrip(". ")
    raise NothingToDoError(
        f"{said}. The ramp itself holds it Paused since {one_line(str(status['pausedAt']))}"
        + (f", and its phase message says why and what acts on it: {message}." if message
           else "; `kubectl describe` shows its events (an abort acts on any hold).")
        + " Resume does not lift it.")


def _target(text: str) -> tuple[str, str]:
    """(kind, name) of ``[KIND/]NAME``; ValueError (a usage error) for another kind or no
    name."""
    kind, _, name = text.rpartition("/")
    if not kind:
        return "upliftmodel", name
    if kind.lower() not in _ALIASES or not name:
        raise ValueError(f"{text!r}: expected NAME, upliftmodel/NAME or campaign/NAME (or "
                          "another of kubectl's names for them: um/NAME, camp/NAME, ...)")
    return _ALIASES[kind.lower()], name


class Kubectl:
    """``kubectl`` with the user's connection flags (``KUBECTL`` overrides the binary)."""

    def __init__(self, kubeconfig: str | None, context: str | None, namespace: str | None,
                 passed: Sequence[str] = ()) -> None:
        """``passed``: kubectl's other global flags, as given (``split_kubectl_flags``)."""
        self.base = [os.environ.get("KUBECTL", "kubectl")]
        self.kubeconfig, self.context, self.namespace = kubeconfig, context, namespace
        for flag, value in (("--kubeconfig", kubeconfig), ("--context", context),
                            ("--namespace", namespace)):
            if value:
                self.base += [flag, value]
        self.base += passed
        self._warned: set[str] = set()  # kubectl's stderr lines passed on (a get, then a patch)

    def get(self, resource: str, name: str, *, managed_fields: bool = False) -> dict[str, Any]:
        """The object as JSON. ``managed_fields``: with ``metadata.managedFields``, which
        ``kubectl get -o json`` leaves out unless ``--show-managed-fields`` is passed
        (kubectl 1.21 on)."""
        return self._json("get", resource, name, "-o", "json",
                          *(["--show-managed-fields"] if managed_fields else []))

    #: (kubectl's arguments, what the answer is) to tell who the user is, in turn: the API
    #: server's word (a SelfSubjectReview: Kubernetes 1.28 on, kubectl 1.27 on; the user
    #: impersonated with ``--as``), else the user entry of the kubeconfig's context, a name the
    #: kubeconfig gives, marked as such.
    WHO = ((("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"), "{}"),
           (("config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.user}"),
            "kubeconfig user {}"))
    #: Seconds each of those may take: a slow API server must not hold an abort back long.
    WHO_TIMEOUT = 5.0

    def user(self) -> str | None:
        """Who the user is, for ``uplift.dev/requested-by``, with the same connection flags;
        None when neither answers (an older API server or kubectl, an error, a timeout, an
        answer not one line, or JSON: a wrapper's, no name). Never raises: a request is
        written without it."""
        for args, shown in self.WHO:
            try:
                done = subprocess.run([*self.base, *args], capture_output=True, text=True,
                                      check=False, timeout=self.WHO_TIMEOUT)
            except (OSError, subprocess.SubprocessError):
                continue
            answer = done.stdout.strip()
            if (done.returncode == 0 and answer and "\n" not in answer
                    and not answer.startswith(("{", "["))):
                return shown.format(answer)
        return None

    def merge_patch(self, resource: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._json("patch", resource, name, "--type", "merge", "-p", json.dumps(patch),
                          "-o", "json")

    def _json(self, *args: str) -> dict[str, Any]:
        try:
            done = subprocess.run([*self.base, *args], capture_output=True, text=True, check=False)
        except FileNotFoundError as error:
            raise PluginError(f"{self.base[0]} not found on PATH") from error
        if done.returncode != 0:
            raise PluginError(done.stderr.strip() or f"kubectl {args[0]} failed ({done.returncode})")
        # kubectl's own lines (an API server's ``Warning:``, ``-v`` logs) are the user's to read:
        # passed on, each once (a get and then a patch of a deprecated version both warn).
        said = [line for line in done.stderr.splitlines()
                if line.strip() and line not in self._warned]
        self._warned.update(said)
        if said:
            print(printable("\n".join(said)), file=sys.stderr)
        try:
            loaded = json.loads(done.stdout)
        except ValueError:
            loaded = None
        if not isinstance(loaded, dict):
            shown = done.stdout.strip()
            raise PluginError(
                f"kubectl {args[0]} exited 0 but printed "
                + (f"something else than the object as JSON: {one_line(_clipped(shown, 200))}"
                   if shown else "nothing, not the object as JSON")
                + (" (the patch may be written: check with `kubectl uplift status`)"
                   if args[0] == "patch" else ""))
        return loaded


#: The request annotation each request verb writes.
REQUEST_KEYS = {"promote": contract.PROMOTE_ANNOTATION, "abort": contract.ABORT_ANNOTATION,
                "retry": contract.RETRY_ANNOTATION,
                "rollback": contract.EMERGENCY_ROLLBACK_ANNOTATION}
#: The companions written with every request, each with the length the operator keeps: who
#: asks and why (``--reason``). Written null when there is none, so one left by an earlier
#: request is not taken for this one's.
COMPANIONS = {contract.REQUESTED_BY_ANNOTATION: contract.REQUESTED_BY_MAX,
              contract.REQUEST_REASON_ANNOTATION: contract.REQUEST_REASON_MAX}


def patch_for(verb: str, full: bool = False, kind: str = "upliftmodel", *,
              requested_by: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """The merge patch a manual-control verb writes to an UpliftModel or a Campaign: a request
    with its companions (``requested_by``, ``reason``: each clipped to what the operator keeps,
    null when absent or blank), or the ramp's ``paused`` field."""
    if verb in ("pause", "resume"):
        return {"spec": {RAMP_FIELDS[kind]: {"paused": verb == "pause"}}}
    token = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    value = f"{'full' if full else 'step'}:{token}" if verb == "promote" else token
    annotations: dict[str, str | None] = {REQUEST_KEYS[verb]: value}
    for key, given in zip(COMPANIONS, (requested_by, reason), strict=True):
        given = (given or "").strip()
        annotations[key] = given[:COMPANIONS[key]] or None
    return {"metadata": {"annotations": annotations}}


def request_key(patch: dict[str, Any]) -> str:
    """The request annotation a ``patch_for`` patch writes (its companions aside)."""
    annotations = patch["metadata"]["annotations"]
    (key,) = (k for k in annotations if k not in COMPANIONS)
    return str(key)


def describe(patch: dict[str, Any]) -> str:
    """What a ``patch_for`` patch asks for, in the words of the fields it writes."""
    annotations = patch.get("metadata", {}).get("annotations", {})
    if annotations:
        key = request_key(patch)
        said = [f"{k}={one_line(str(annotations[k]))}" for k in COMPANIONS
                if annotations.get(k) is not None]
        return (f"requested ({key}={annotations[key]}; acted on once, see "
                "status.handledRequests)" + (f"; {', '.join(said)}" if said else ""))
    ((ramp, fields),) = patch["spec"].items()
    return f"spec.{ramp}.paused set to {str(fields['paused']).lower()}"


def _companion_notes(where: str, patch: dict[str, Any], reason: str | None,
                     read: dict[str, Any], others: Sequence[contract.ManualRequest]) -> list[str]:
    """What stderr says of a request's companions: none could tell who asks, a reason clipped,
    and the companions of a pending request of another key replaced (one of each per object:
    written with the pending one, they are this request's now)."""
    written = patch["metadata"]["annotations"]
    notes = []
    if written[contract.REQUESTED_BY_ANNOTATION] is None:
        notes.append(f"kubectl uplift: {where}: written without {contract.REQUESTED_BY_ANNOTATION}"
                     ": neither `kubectl auth whoami` (an API server 1.28 or newer) nor the "
                     "kubeconfig's context names a user")
    given = (reason or "").strip()
    if len(given) > contract.REQUEST_REASON_MAX:
        notes.append(f"kubectl uplift: {where}: --reason is {len(given)} characters: its first "
                     f"{contract.REQUEST_REASON_MAX} written ({contract.REQUEST_REASON_ANNOTATION}"
                     " holds no more)")
    before = (read.get("metadata") or {}).get("annotations") or {}
    changed = [k for k in COMPANIONS if isinstance(before, dict)
               and before.get(k) is not None and before.get(k) != written[k]]
    if others and changed:
        pending = ", ".join(f"{r.key}={_clipped(r.token)}" for r in others)
        notes.append(
            f"kubectl uplift: {where}: the pending request {one_line(pending)} was written with "
            + ", ".join(f"{k}={one_line(_clipped(str(before[k])))}" for k in changed)
            + ": one of each per object, now this request's")
    return notes


def _rendered(body: dict[str, Any], kind: str, name: str, kubectl: Kubectl) -> str:
    """``status``'s summary of ``body``, or a PluginError (exit 1) saying in one line that the
    status could not be read and how to see it whole: a status of a shape the summary does not
    expect (an older or newer operator's, a hand edit) gives no traceback."""
    try:
        return (render_status if kind == "upliftmodel" else render_campaign)(
            body, get=_get_command(kind, name, body, kubectl))
    except Exception as error:  # any shape of status: said, never a traceback
        command = _get_command(kind, name, body, kubectl)
        raise PluginError(one_line(
            f"could not read the status of {kind}/{name} ({type(error).__name__}: {error}); "
            f"see it whole with `{command} -o yaml`")) from error


def _get_command(kind: str, name: str, body: dict[str, Any],
                 kubectl: Kubectl | None = None) -> str:
    """``kubectl get KIND NAME -n NS`` for the object read (its context and kubeconfig as
    given, never other flags: a ``--token`` is no text to print)."""
    meta = _dict(body.get("metadata"))
    namespace = meta.get("namespace") or (kubectl.namespace if kubectl else None)
    words = ["kubectl", "get", kind, str(meta.get("name") or name)]
    words += ["-n", str(namespace)] if namespace else []
    for flag, value in (("--context", kubectl.context if kubectl else None),
                        ("--kubeconfig", kubectl.kubeconfig if kubectl else None)):
        words += [flag, value] if value else []
    return " ".join(shlex.quote(word) for word in words)


def _dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else empty (null, a list, a hand edit's scalar)."""
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of the list ``value`` (nothing when it is not a list)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _step(status: dict[str, Any], steps: list[Any]) -> str:
    """``  step 2/3`` of the ramp, nothing without a step number or steps."""
    step = _int(status.get("currentStep"))
    return f"  step {step + 1}/{len(steps)}" if step is not None and steps else ""


def render_status(body: dict[str, Any], *, get: str | None = None) -> str:
    """A human summary of an UpliftModel's status: the ramp, the gates and the last decisions.
    ``get``: the ``kubectl get`` of the object, which the history names for the entries it
    leaves out (default: from the object's name and namespace)."""
    meta, spec, status = (_dict(body.get(part)) for part in ("metadata", "spec", "status"))
    steps = _list(_dict(spec.get("rollout")).get("steps"))
    stable, canary = status.get("stableVersion"), status.get("canaryVersion")
    desired, previous = status.get("desiredVersion"), status.get("previousStableVersion")
    lines = [
        f"Name:      {meta.get('namespace', '-')}/{meta.get('name', '-')}",
        *_behind(meta, status),
        f"Phase:     {status.get('phase', '-')}  {status.get('message', '')}".rstrip(),
        f"Stable:    {stable or '-'}",
        f"Previous:  {previous}  (what a rollback restores when no canary runs)" if previous
        else "Previous:  -",
        f"Canary:    {canary or '-'}  weight {_fmt(status.get('canaryWeight', 0))}%"
        + _step(status, steps),
        *_serving(status),
    ]
    if desired and desired not in (stable, canary):
        # The spec's version the operator resolved, neither stable nor canary: aborted or
        # rolled back, not serving yet, waiting for a gate or a request (see the phase).
        lines.append(f"Desired:   {desired}  (the spec's version: neither stable nor canary, "
                     "see Phase)")
    rolled_back = _rolled_back(status)
    if rolled_back:
        lines.append(f"Rolled back: {rolled_back}")
    lines.append(f"Paused:    {_paused(meta, spec, status, 'rollout')}")
    return _layout(lines + _requests(meta, status)
                   + _common(status, level="weight",
                             get=get or _get_command("upliftmodel", "-", body)))


def _serving(status: dict[str, Any]) -> list[str]:
    """A ``Serving:`` line when the split the serving graph carries (``status.servingSplit``)
    gives the traffic to other versions, or in other shares, than the decided one above
    (stable, canary and weight): an emergency rollback's restore, an apply refused, a hand
    edit. None when they agree (a version at 0 % kept in the graph is no difference) or the
    operator wrote no such field."""
    words = status.get("servingSplit")
    if not isinstance(words, str) or not words:
        return []
    stable, canary = status.get("stableVersion"), status.get("canaryVersion")
    weight = status.get("canaryWeight", 0)
    decided: dict[str, int] | None = None
    if isinstance(stable, str) and isinstance(weight, int) and not isinstance(weight, bool):
        decided = {stable: 100 - weight, canary: weight} if isinstance(canary, str) and (
            canary != stable) else {stable: 100}
        decided = {version: share for version, share in decided.items() if share}
    if decided is not None and _serving_shares(words) == decided:
        return []
    return [f"Serving:   {words}  (what the serving graph carries: not the decided split yet)"]


#: One version's share in ``status.servingSplit`` ("v2 100%": ``domain.serving_split.describe``,
#: not imported: the plugin ships with ``domain.requests`` alone, ``plugin.bundle``).
_SHARE = re.compile(r"^v(\S+) ([0-9]{1,3})%$")


def _serving_shares(words: str) -> dict[str, int] | None:
    """The versions with traffic (above 0 %) in ``status.servingSplit``'s words, None when
    they are not the operator's (a version shown "?", predictors left out, a hand edit)."""
    found: dict[str, int] = {}
    for part in words.split(", "):
        share = _SHARE.match(part)
        if share is None or share.group(1) == "?" or share.group(1) in found:
            return None
        if int(share.group(2)):
            found[share.group(1)] = int(share.group(2))
    return found


def _behind(meta: dict[str, Any], status: dict[str, Any]) -> list[str]:
    """A ``Status:`` line when the status is older than the spec (``_unobserved``): what the
    summary shows is what the operator made of an earlier generation."""
    unobserved = _unobserved(meta, status)
    return [] if unobserved is None else [f"Status:    stale: {unobserved}"]


def _pending(body: dict[str, Any]) -> list[contract.ManualRequest]:
    """The requests written and not acted on yet, compared as the operator compares them (a
    request annotation whose token is neither ``status.handledRequests``' for its key nor one
    of ``status.earlierHandledRequests``': ``domain.requests.is_handled``)."""
    status = _dict(body.get("status"))
    annotations = {key: value for key, value in
                   _dict(_dict(body.get("metadata")).get("annotations")).items()
                   if isinstance(value, str)}
    return [r for r in contract.parse_requests(annotations) if not contract.is_handled(
        r, _dict(status.get("handledRequests")), _dict(status.get("earlierHandledRequests")))]


def _requests(meta: dict[str, Any], status: dict[str, Any]) -> list[str]:
    """The manual requests: those pending, written and not acted on yet, compared as the
    operator compares them (a request annotation whose token is not ``status.handledRequests``'
    for its key: the operator down, behind, or holding it for an invalid spec), then the last
    one acted on per annotation, with the history's entry of it when it still has one
    (``RequestIgnored``: refused, and why). Neither: no line."""
    handled = _dict(status.get("handledRequests"))
    shown = [f"pending  {r.key}={_clipped(r.token)}  (not acted on yet"
             + (f"; it asks for nothing: {r.problem}" if r.problem else "")
             + ": the operator not at it yet, not running, or held by an invalid spec, see "
             "Conditions)"
             for r in _pending({"metadata": meta, "status": status})]
    # The history names a request by its actor, its token clipped (``ManualRequest.actor``).
    by_actor = {h["actor"]: h for h in _dicts(status.get("history"))
                if isinstance(h.get("actor"), str)}
    annotations = _dict(meta.get("annotations"))
    for key, stored in sorted(handled.items()):
        token = str(stored)
        # A token over 64 characters is stored as its digest (``remembered``): the annotation
        # still holding it gives the token itself, which the history's actor names.
        written = annotations.get(key)
        if (isinstance(written, str) and written != token
                and contract.remembered(written) == token):
            token = written
        entry = by_actor.get(contract.ManualRequest(
            contract.RequestKind.UNRECOGNISED, key, token).actor)
        shown.append(f"handled  {key}={_clipped(token, _shown_limit(token))}"
                     + (f"  ({entry.get('action')} at {entry.get('time')}: "
                        f"{entry.get('reason', '')})" if entry else ""))
    if not shown:
        return []
    return [f"Requests:  {shown[0]}", *(f"           {line}" for line in shown[1:])]


def _clipped(token: str, limit: int = 64) -> str:
    """A token as the history's actor shows it: an annotation value may be 256 KiB."""
    return token if len(token) <= limit else token[:limit - 1] + "…"


def _shown_limit(token: str) -> int:
    """How much of a handled token to show: a digest (``sha256:<hex>``, the token not in the
    annotation any more) whole, for comparing; any other as the history's actor clips it."""
    return (contract.REMEMBERED_FORM_MAX
            if contract.remembered_as_kept(token) == token
            and len(token) == contract.REMEMBERED_FORM_MAX else 64)


def _unobserved(meta: dict[str, Any], status: dict[str, Any]) -> str | None:
    """"the operator has not acted on generation N yet" when ``status.observedGeneration`` is
    behind ``metadata.generation`` (the operator down or behind), else None (both must be
    numbers: a status without ``observedGeneration`` says nothing of it)."""
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if (isinstance(generation, int) and isinstance(observed, int)
            and not isinstance(generation, bool) and not isinstance(observed, bool)
            and observed < generation):
        return (f"the operator has not acted on generation {generation} yet "
                f"(status.observedGeneration {observed})")
    return None


def _paused(meta: dict[str, Any], spec: dict[str, Any], status: dict[str, Any],
            ramp: str) -> str:
    """Whether the ramp is held Paused (``status.pausedAt``) and whether the spec asks it
    (``spec.<ramp>.paused``): an inconclusiveLimit or a Manual rollback holds it too, with the
    spec's paused false, which a bare "False" next to "Phase: Paused" denied. A ``pausedAt``
    the spec's pause set stays until the operator's next pass: with the spec's paused false in
    a generation not acted on yet, it is a resume to come, not a hold of the ramp's own."""
    asked = _dict(spec.get(ramp)).get("paused", False) is True
    field = f"spec.{ramp}.paused"
    held = status.get("pausedAt")
    if held and asked:
        return f"yes, since {held} ({field} true)"
    unobserved = _unobserved(meta, status) if held else None
    if unobserved is not None:
        return f"yes, since {held} ({field} false, written: {unobserved})"
    if held:
        return f"yes, since {held} (held by the ramp, {field} false: see the phase's message)"
    if asked:
        return f"asked ({field} true), not held yet"
    return f"no ({field} false)"


def _rolled_back(status: dict[str, Any]) -> str:
    """The versions on record as rolled back, each with what it was: ``3 (canary), 2 (stable,
    emergency rollback)``. An operator before ``emergencyRolledBackVersion`` put the stable an
    emergency rollback replaced in ``abortedVersion``: it reads as the canary one."""
    parts = []
    if status.get("abortedVersion"):
        parts.append(f"{status['abortedVersion']} (canary)")
    if status.get("emergencyRolledBackVersion"):
        parts.append(f"{status['emergencyRolledBackVersion']} (stable, emergency rollback)")
    return ", ".join(parts)


def render_campaign(body: dict[str, Any], *, get: str | None = None) -> str:
    """A human summary of a Campaign's status: exposure (and what a spent budget, or a spend
    unreadable past ``spec.economics.budgetUnreadable.after``, suspends),
    effect, ROI, spend against the budget and what is left of it. Money is shown to the cent
    (``_money``): a significant-digit format rounds 4,999.60 of 5,000 up to the whole budget."""
    meta, spec, status = (_dict(body.get(part)) for part in ("metadata", "spec", "status"))
    steps = _list(_dict(spec.get("exposure")).get("steps"))
    economics = _dict(spec.get("economics"))
    budget, currency = economics.get("budget"), economics.get("currency", "")
    unit = f" {currency}".rstrip()
    suspended = status.get("suspendedExposurePercent")
    unreadable = status.get("budgetUnreadableSince")
    ready = next((c for c in _dicts(status.get("conditions")) if c.get("type") == "Ready"), {})
    if suspended is None:
        suspension = ""
    elif ready.get("reason") == "BudgetUnreadable":
        # spec.economics.budgetUnreadable.action Suspend: no period renews it, a reading does.
        suspension = (f"  (suspended, the spend unreadable since {unreadable or '-'}: "
                      f"{_fmt(suspended)}% given back at the first reading under the budget)")
    else:
        # A spent budget is given back when its period renews; a campaign-wide one (no
        # budgetPeriod) never renews: only a raised budget (its gate passing again) ends it.
        given_back = ("when the period renews" if economics.get("budgetPeriod")
                      else "when the budget is raised")
        suspension = f"  (suspended by the budget: {_fmt(suspended)}% given back {given_back})"
    remaining = status.get("budgetRemaining")
    if budget is None:
        spend = f"{_money(status.get('spend', 0))}{unit} (no budget)"
    else:
        spend = (f"{_money(status.get('spend', 0))} of {_money(budget)}{unit}"
                 + (f", {_money(remaining)} left" if remaining is not None else "")
                 + (f" per {economics['budgetPeriod']}" if economics.get("budgetPeriod")
                    else "")
                 # status.budgetUnreadableSince: no reading has shown the spend since.
                 + (f" (unreadable since {unreadable})" if unreadable else ""))
    lines = [
        f"Name:      {meta.get('namespace', '-')}/{meta.get('name', '-')}",
        f"Phase:     {status.get('phase', '-')}  {status.get('message', '')}".rstrip(),
        f"Model:     {_dict(spec.get('modelRef')).get('name', '-')} "
        f"v{status.get('modelVersion') or '-'}",
        f"Exposure:  {_fmt(status.get('exposurePercent', 0))}%" + _step(status, steps)
        + suspension,
        f"Effect:    {_estimate(status.get('incrementalEffect'))}",
        f"ROI:       {_estimate(status.get('roi'))}",
        f"Spend:     {spend}",
        # status.incrementalConversions: the effect's cohorts' count, absent from an older
        # operator's status (and with the effect).
        f"Converted: {_conversions(status.get('incrementalConversions'))}",
        # treatedUnits/holdoutUnits count decisions (a unit decided again counts again).
        f"Decisions: treated {status.get('treatedUnits', 0)}, "
        f"holdout {status.get('holdoutUnits', 0)} (since the ramp started)",
        f"Paused:    {_paused(meta, spec, status, 'exposure')}",
    ]
    lines[1:1] = _behind(meta, status)
    return _layout(lines + _requests(meta, status)
                   + _common(status, money=_budget_gate_names(spec), level="percent",
                             get=get or _get_command("campaign", "-", body)))


def _budget_gate_names(spec: dict[str, Any]) -> set[str]:
    """The Campaign's budget gates, whose value and threshold are money: those declared, else
    the one ``spec.economics.budget`` implies, named as the operator names it (``budget``, or
    ``budget-2``, ... when a declared gate has the name: ``domain.exposure``, which this
    light plugin does not import)."""
    gates = _dicts(_dict(spec.get("exposure")).get("gates"))
    declared = {str(g.get("name")) for g in gates if g.get("type") == "budget"}
    if declared or _dict(spec.get("economics")).get("budget") is None:
        return declared
    taken = {str(g.get("name")) for g in gates}
    name, n = "budget", 1
    while name in taken:
        n += 1
        name = f"budget-{n}"
    return {name}


def _common(status: dict[str, Any], money: set[str] | frozenset[str] = frozenset(), *,
            level: str = "weight", get: str = "kubectl get") -> list[str]:
    """Gates, history and conditions; the gates named in ``money`` (a Campaign's budget gates:
    spend against the budget) with their value and threshold to the cent. A history entry
    shows the ramp's ``level`` it recorded (an UpliftModel's canary ``weight``, a Campaign's
    exposure ``percent``: ``_entry``), a condition since when it holds
    (``lastTransitionTime``). ``get``: the object's ``kubectl get``, for the history it leaves
    out."""
    lines: list[str] = []
    gates = _dicts(status.get("gates"))
    if gates:
        lines.append("Gates:")
        for gate in gates:
            number = _money if gate.get("name") in money else _fmt
            lines.append(
                f"  {_fmt(gate.get('name')):<16} {_fmt(gate.get('verdict')):<12} "
                f"value={_gate_value(gate, number)} threshold={number(gate.get('threshold'))} "
                f"samples={_progress(gate)}  {_text(gate.get('message'))}".rstrip())
    lines += _history(status, level, get)
    conditions = _dicts(status.get("conditions"))
    if conditions:
        lines.append("Conditions:")
        lines += [f"  {_fmt(c.get('type')):<14} {_fmt(c.get('status')):<7} "
                  + (f"since {c['lastTransitionTime']}  " if c.get("lastTransitionTime") else "")
                  + f"{_fmt(c.get('reason'))}: {_text(c.get('message'))}" for c in conditions]
    return lines


#: How many of the newest history entries ``status`` shows, besides every rollback before them.
HISTORY_SHOWN = 10
#: The history actions that record a rollback, and how the reason of a request ignored begins
#: (an older operator recorded one under its request's action): ``domain.steps``'
#: ``ROLLBACK_ACTIONS`` and ``IGNORED_PREFIX``, not imported (the plugin ships with
#: ``domain.requests`` alone, ``plugin.bundle``; a unit test holds them equal).
ROLLBACK_ACTIONS = frozenset({"RolledBack", "ManualAbort", "EmergencyRollback"})
IGNORED_PREFIX = "ignored: "
# The words of each ramp's level in a history entry.
_LEVELS = {"weight": "canary weight", "percent": "exposure"}


def _is_rollback(entry: dict[str, Any]) -> bool:
    return (entry.get("action") in ROLLBACK_ACTIONS
            and not str(entry.get("reason") or "").startswith(IGNORED_PREFIX))


def _history(status: dict[str, Any], level: str, get: str) -> list[str]:
    """The history, newest last: the last ``HISTORY_SHOWN`` entries and every rollback before
    them (what an on-call looks for), each gap marked with what it leaves out; how many are
    not shown, with the command that shows them all; and how many the operator dropped from
    the status (``status.historyTrimmed``, when the operator counts them)."""
    history = _dicts(status.get("history"))
    trimmed = _int(status.get("historyTrimmed")) or 0
    if not history and trimmed <= 0:
        return []
    newest = max(0, len(history) - HISTORY_SHOWN)
    shown = [i >= newest or _is_rollback(h) for i, h in enumerate(history)]
    hidden = shown.count(False)
    lines = ["History (newest last" + (f"; the last {HISTORY_SHOWN} and every rollback before "
                                       "them" if hidden else "") + "):"]
    if trimmed > 0:
        lines.append(f"  {_count(trimmed, 'older entry was', 'older entries were')} dropped by "
                     "the operator (status.historyTrimmed)")
    if hidden:
        lines.append(f"  {_count(hidden, 'earlier entry', 'earlier entries')} not shown: "
                     f"{get} -o jsonpath='{{.status.history}}'")
    gap = 0
    for index, entry in enumerate(history):
        if not shown[index]:
            gap += 1
            continue
        if gap:
            lines.append(f"  … {gap} not shown")
            gap = 0
        lines.append(_entry(entry, history[:index], level))
    return lines


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _entry(entry: dict[str, Any], before: list[dict[str, Any]], level: str) -> str:
    """One history entry. Its ``level`` (``DecisionRecord.weight``/``percent``) is the ramp's
    level after the decision, so said as such: a rollback's is 0 %, and the level it rolled
    back from is the one the last entry before it of the same version recorded (when the
    history still holds it); a promotion's, the canary's weight once it is stable (0), is
    left out."""
    action = _fmt(entry.get("action"))
    words, value = _LEVELS.get(level, level), entry.get(level)
    said = ""
    if _is_rollback(entry):
        version = entry.get("version")
        earlier = next((h for h in reversed(before) if version is not None
                        and h.get("version") == version), None)
        start = earlier.get(level) if earlier and earlier.get("action") != "Promoted" else None
        if start is not None:
            said = f" {words} from {_fmt(start)}%" + (f" to {_fmt(value)}%" if value is not None
                                                      else "")
        elif value is not None:
            said = f" {words} after: {_fmt(value)}%"
    elif value is not None and action != "Promoted":
        said = f" {words} after: {_fmt(value)}%"
    return (f"  {_fmt(entry.get('time'))}  {action:<18} v{_fmt(entry.get('version', '-'))}"
            f"{said}  {_text(entry.get('reason'))} ({_fmt(entry.get('actor', 'operator'))})")


def _text(value: Any) -> str:
    """A free-text field: empty when absent or null."""
    return "" if value is None else str(value)


def _gate_value(gate: dict[str, Any], number: Callable[[Any], str] | None = None) -> str:
    """The value, with its confidence bounds when the gate has them: ``0.031 [0.02, 0.04]``."""
    show = number or _fmt
    if gate.get("lower") is None and gate.get("upper") is None:
        return show(gate.get("value"))
    return f"{show(gate.get('value'))} [{show(gate.get('lower'))}, {show(gate.get('upper'))}]"


def _progress(gate: dict[str, Any]) -> str:
    """Samples, and towards what: ``5400/36815`` when the gate states its designSamples."""
    samples, design = gate.get("samples", "-"), gate.get("designSamples")
    return f"{samples}/{design}" if design else str(samples)


def _estimate(value: Any) -> str:
    if not isinstance(value, dict):
        return "-"
    return str(value.get("display") or _fmt(value.get("estimate")))


def _conversions(value: Any) -> str:
    shown = _estimate(value)
    return shown if shown == "-" else f"{shown} incremental conversions"


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _money(value: Any) -> str:
    """An amount to the cent with thousands separators (``12,345.67``), whatever its size."""
    if value is None:
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.2f}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
